"""A tiny synthetic ASR task for trainer tests (imported by the tests and by ddp_worker.py)."""
from __future__ import annotations

import torch
from torch.utils.data import Dataset

from speech.features import SpecAugmentConfig
from speech.losses import CTCLoss
from speech.models.asr import bilstm_ctc
from speech.text.tokenizer import CharTokenizer
from speech.train.tasks import CTCTask

TOKENIZER = CharTokenizer(["a", "b", "c", "|"])


class ToySet(Dataset):
    """Random features whose length grows with the label count; deterministic for a seed."""

    def __init__(self, n: int, seed: int = 0, feat_dim: int = 8):
        g = torch.Generator().manual_seed(seed)
        self.items = []
        for i in range(n):
            n_tok = int(torch.randint(1, 5, (1,), generator=g))
            tokens = torch.randint(1, 4, (n_tok,), generator=g)
            frames = 8 * n_tok + int(torch.randint(0, 6, (1,), generator=g))
            text = TOKENIZER.decode(tokens.tolist())
            feats = torch.randn(frames, feat_dim, generator=g)
            self.items.append({"id": f"u{i}", "feats": feats, "tokens": tokens, "text": text})
        self.durations = [it["feats"].shape[0] / 100 for it in self.items]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def make_model(dropout: float = 0.2, specaugment: bool = True, seed: int = 0):
    torch.manual_seed(seed)
    spec = SpecAugmentConfig(freq_masks=1, freq_width=2, time_masks=1, time_width=3, max_time_width=3) if specaugment else None
    return bilstm_ctc(8, len(TOKENIZER), specaugment=spec, hidden_size=12, num_layers=2, dropout=dropout, stack_frames=2)


def make_task():
    return CTCTask(CTCLoss(), TOKENIZER)
