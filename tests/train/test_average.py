"""Checkpoint averaging (trainer.average_best): the mean of the best checkpoints and the last."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from speech.train.asr import averaged_sources
from speech.train.checkpoint import CheckpointError, atomic_save, average_checkpoints
from speech.train.trainer_config import FitResult, TrainerConfig


def _save(path: Path, w: float, steps: int = 3) -> Path:
    return atomic_save({"model": {"w": torch.full((2, 2), w), "b": torch.tensor([w], dtype=torch.float16),
                                  "n": torch.tensor(steps)}}, path)


def test_average_is_the_elementwise_mean_in_each_tensors_dtype(tmp_path):
    paths = [_save(tmp_path / f"c{i}.pt", w, steps=i) for i, w in enumerate((1.0, 2.0, 6.0))]
    avg = average_checkpoints(paths)
    assert torch.equal(avg["w"], torch.full((2, 2), 3.0))
    assert avg["b"].dtype == torch.float16 and float(avg["b"]) == 3.0
    assert int(avg["n"]) == 0  # integers from the first checkpoint, not averaged


def test_average_refuses_checkpoints_of_different_models(tmp_path):
    a = _save(tmp_path / "a.pt", 1.0)
    b = atomic_save({"model": {"w": torch.zeros(3)}}, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match="b.pt: cannot average"):
        average_checkpoints([a, b])


def test_averaged_sources_take_the_n_best_and_the_last(tmp_path):
    best = [_save(tmp_path / f"best-step{s:07d}.pt", 0.0) for s in (300, 100, 200)]
    last = _save(tmp_path / "last.pt", 0.0)
    res = FitResult(last_checkpoint=last, best_checkpoint=best[0], best_metric=0.1, steps=400, epochs_completed=4,
                    seconds=1.0, best_ranking=best)
    assert averaged_sources(res, 2) == [best[0], best[1], last]
    assert averaged_sources(res, 1) == []
    assert averaged_sources(res, 5) == [*best, last]


def test_average_best_cannot_exceed_what_is_kept():
    with pytest.raises(ValueError, match="trainer.average_best: 4 is more than trainer.keep_best"):
        TrainerConfig(keep_best=3, average_best=4)
