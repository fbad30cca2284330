import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from speech.data.dataset import collate_asr
from speech.train.checkpoint import atomic_save, load_checkpoint
from speech.train.schedule import lr_factor, scaled_lr
from speech.train.trainer import Trainer, TrainerConfig

sys.path.insert(0, str(Path(__file__).parent))
from toy import ToySet, make_model, make_task  # noqa: E402


def _cfg(**kw):
    base = dict(max_epochs=10, max_steps=8, lr=5e-3, warmup_steps=2, schedule="cosine", device="cpu",
                progress=False, log_every=1, keep_best=2, checkpoint_every_steps=0, seed=3)
    base.update(kw)
    return TrainerConfig(**base)


def _fit(out, model, stop_at_step=None, **kw):
    return Trainer(_cfg(**kw), make_task(), out).fit(
        model, ToySet(40), ToySet(9, seed=1), collate_asr, 8, stop_at_step=stop_at_step
    )


@pytest.mark.parametrize("stop", [3, 5])  # 5 batches per epoch: mid-epoch and exactly at the epoch boundary
def test_resume_is_exact(tmp_path, stop):
    """N steps + checkpoint + resume + remaining steps == uninterrupted run (dropout and SpecAugment on)."""
    full = make_model()
    _fit(tmp_path / "full", full)

    part = make_model()
    r1 = _fit(tmp_path / "part", part, stop_at_step=stop)
    assert r1.steps == stop and (tmp_path / "part/checkpoints/last.pt").is_file()
    first_seconds = load_checkpoint(tmp_path / "part/checkpoints/last.pt")["train_seconds"]
    assert 0 < first_seconds <= r1.seconds
    resumed = make_model(seed=123)  # different init: everything must come from the checkpoint
    r2 = _fit(tmp_path / "part", resumed)
    assert r2.steps == 8
    assert r2.seconds >= first_seconds  # the run's training time counts both processes
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6, rtol=0), k
    # and training did change the weights
    assert not torch.allclose(make_model().output.weight, full.output.weight)


def test_checkpoints_best_k_and_curves(tmp_path):
    res = _fit(tmp_path, make_model(), max_steps=15, keep_best=2)
    ckpts = sorted(p.name for p in (tmp_path / "checkpoints").glob("best-*.pt"))
    assert len(ckpts) == 2
    assert res.best_checkpoint is not None and res.best_checkpoint.name in ckpts
    best = load_checkpoint(res.best_checkpoint)
    assert best["metrics"]["wer"] == res.best_metric
    assert all(best["metrics"]["wer"] <= v[1 + res.history["val_keys"].index("wer")] for v in res.history["val"])
    last = load_checkpoint(tmp_path / "checkpoints" / "last.pt")  # weights_only load works
    assert last["step"] == 15
    assert (tmp_path / "training_curves.png").stat().st_size > 1000
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert not list((tmp_path / "checkpoints").glob(".*tmp"))  # no temp files left behind


def test_atomic_save_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "x.pt"
    atomic_save({"a": torch.ones(2)}, path)

    class Boom:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_save({"a": Boom()}, path)
    assert torch.equal(load_checkpoint(path)["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["x.pt"]


def test_corrupt_checkpoint_error_names_file(tmp_path):
    bad = tmp_path / "last.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="last.pt"):
        load_checkpoint(bad)


def test_schedule_warmup_and_scaling():
    assert lr_factor(0, 10, 100, "cosine", 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100, "cosine", 0.1) == pytest.approx(1.0)
    assert lr_factor(100, 10, 100, "cosine", 0.1) == pytest.approx(0.1)
    assert lr_factor(55, 10, 100, "linear", 0.0) == pytest.approx(0.5)
    assert lr_factor(50, 10, 100, "constant", 0.0) == 1.0
    with pytest.raises(ValueError, match="schedule"):
        lr_factor(50, 10, 100, "exp", 0.0)
    assert scaled_lr(1e-3, 256, 32) == pytest.approx(8e-3)
    assert scaled_lr(1e-3, 256, 0) == 1e-3


def test_bad_trainer_config():
    with pytest.raises(ValueError, match="precision"):
        TrainerConfig(precision="fp8")


@pytest.mark.slow
def test_ddp_step_matches_single_process(tmp_path):
    """One step with 2 torchrun/gloo processes (4 utts each) == one process with the global batch of 8."""
    worker = Path(__file__).parent / "ddp_worker.py"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    single = subprocess.run([sys.executable, str(worker), str(tmp_path / "single"), "8"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr[-3000:]
    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "2",
         str(worker), str(tmp_path / "ddp"), "4"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    a = torch.load(tmp_path / "single" / "weights.pt", weights_only=True)
    b = torch.load(tmp_path / "ddp" / "weights.pt", weights_only=True)
    init = make_model(dropout=0.0, specaugment=False).state_dict()
    moved = 0
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6, rtol=0), k
        moved += int(not torch.allclose(a[k], init[k]))
    assert moved > 0  # the step really updated the weights


@pytest.mark.slow
def test_two_node_torchrun_command_line_matches_single_process(tmp_path):
    """The multi-node command line of the README (and docs/scaling.md), with two "nodes" on this machine:
    one torchrun per node meeting at a c10d rendezvous endpoint, one process each; one step equals one
    process with the global batch."""
    worker = Path(__file__).parent / "ddp_worker.py"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
                               "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "t2n",
                               str(worker), str(tmp_path / "two-nodes"), "4"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in nodes]
    assert [p.returncode for p in nodes] == [0, 0], [err[-2000:] for _, err in outs]
    single = subprocess.run([sys.executable, str(worker), str(tmp_path / "single"), "8"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr[-3000:]
    a = torch.load(tmp_path / "single" / "weights.pt", weights_only=True)
    b = torch.load(tmp_path / "two-nodes" / "weights.pt", weights_only=True)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6, rtol=0), k


def test_resume_with_a_different_model_is_a_clear_error(tmp_path):
    _fit(tmp_path, make_model(), stop_at_step=2)
    from speech.models.asr import bilstm_ctc
    from toy import TOKENIZER

    other = bilstm_ctc(8, len(TOKENIZER), hidden_size=6, num_layers=2, stack_frames=2)
    with pytest.raises(ValueError, match="cannot resume") as e:
        _fit(tmp_path, other)
    assert "\n" not in str(e.value) and "last.pt" in str(e.value)


def test_ce_task_trains_on_frame_labels(tmp_path):
    """Frame-level CE through the same Trainer: loss goes down, validation decodes like CTC."""
    from speech.losses import FrameCELoss
    from speech.train.tasks import CETask
    from toy import TOKENIZER

    class Labeled(ToySet):
        def __init__(self, n, seed=0):
            super().__init__(n, seed)
            for it in self.items:  # an alignment at the model's output rate (stack 2), visible in the features
                t_out = (it["feats"].shape[0] + 1) // 2
                lab = torch.zeros(t_out, dtype=torch.long)
                for j, tok in enumerate(it["tokens"].tolist()):
                    lab[4 * j + 1: 4 * j + 3] = tok
                    it["feats"][8 * j + 2: 8 * j + 6, tok] += 4.0
                it["frame_labels"] = lab

    train, dev = Labeled(40), Labeled(9, seed=1)
    model = make_model()
    res = Trainer(_cfg(max_steps=40, lr=5e-3, warmup_steps=5), CETask(FrameCELoss(), TOKENIZER), tmp_path).fit(
        model, train, dev, collate_asr, 8)
    keys = res.history["val_keys"]
    val_loss = [v[1 + keys.index("loss")] for v in res.history["val"]]
    assert val_loss[-1] < 0.8 * val_loss[0], val_loss  # dev CE falls
    assert all(0.0 <= v[1 + keys.index("wer")] <= 1.0 for v in res.history["val"])  # and dev decoding runs
