"""One optimizer step on the toy task; run alone or under torchrun. argv: out_dir batch_size."""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from toy import ToySet, make_model, make_task  # noqa: E402

from speech.data.dataset import collate_asr  # noqa: E402
from speech.train import distributed  # noqa: E402
from speech.train.trainer import Trainer, TrainerConfig  # noqa: E402

out, batch_size = Path(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(1)
# Adam's first update is lr * g / (|g| + eps): with the usual eps=1e-8 a gradient entry near zero turns
# float summation-order noise (DDP adds shard gradients in another order) into an lr-sized step, so the
# comparison uses eps=1e-5, which still leaves every normal-sized gradient's update unchanged.
cfg = TrainerConfig(max_epochs=1, max_steps=1, lr=0.01, eps=1e-5, warmup_steps=0, schedule="constant", device="cpu",
                    progress=False, keep_best=0)
model = make_model(dropout=0.0, specaugment=False)
result = Trainer(cfg, make_task(), out).fit(model, ToySet(32), None, collate_asr, batch_size)
if distributed.current().is_main:
    torch.save(model.state_dict(), out / "weights.pt")
distributed.cleanup()
