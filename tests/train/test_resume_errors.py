"""Resuming never loses training: a broken last.pt is kept aside and the newest intact checkpoint is used."""
import logging
import os
import sys
import time
from pathlib import Path

import pytest
import torch

from speech.data.dataset import collate_asr
from speech.fileio import remove_stale_tmp
from speech.train.checkpoint import CheckpointError, load_checkpoint
from speech.train.trainer import Trainer, TrainerConfig, resolve_device

sys.path.insert(0, str(Path(__file__).parent))
from toy import ToySet, make_model, make_task  # noqa: E402

# 40 utterances in batches of 8: 5 steps per epoch, validation (and best-k checkpoints) after each epoch


def _fit(out, stop_at_step=None, max_steps=8, model=None):
    cfg = TrainerConfig(max_epochs=10, max_steps=max_steps, lr=5e-3, warmup_steps=2, device="cpu", progress=False,
                        log_every=1, keep_best=2, checkpoint_every_steps=1, seed=3)
    return Trainer(cfg, make_task(), out).fit(model or make_model(), ToySet(40), ToySet(9, seed=1), collate_asr, 8,
                                              stop_at_step=stop_at_step)


def _truncate(path: Path) -> bytes:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return data[: len(data) // 2]


def test_truncated_last_is_kept_aside_and_training_continues_from_best(tmp_path, caplog):
    ckpts = tmp_path / "checkpoints"
    assert _fit(tmp_path, stop_at_step=7).steps == 7
    assert [p.name for p in ckpts.glob("best-*.pt")] == ["best-step0000005.pt"]
    broken = _truncate(ckpts / "last.pt")
    best_weights = load_checkpoint(ckpts / "best-step0000005.pt")["model"]

    model = make_model(seed=99)
    with caplog.at_level(logging.WARNING, logger="speech.train.trainer"):
        result = _fit(tmp_path, model=model)
    assert result.steps == 8  # steps 6..8 trained again from step 5
    aside = list(ckpts.glob("last.pt.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == broken  # kept byte for byte, never deleted
    assert load_checkpoint(ckpts / "last.pt")["step"] == 8
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1 and "\n" not in warning[0]
    assert "last.pt" in warning[0] and aside[0].name in warning[0] and "best-step0000005.pt" in warning[0]
    assert "weights_only" not in warning[0]
    # it started from the best checkpoint's weights, not the fresh model's, and went on training
    assert not torch.equal(model.output.weight, best_weights["output.weight"])
    assert (ckpts / "best-step0000005.pt").is_file()


def test_nothing_intact_stops_in_one_line_naming_what_was_kept(tmp_path):
    ckpts = tmp_path / "checkpoints"
    _fit(tmp_path, stop_at_step=7)
    _truncate(ckpts / "last.pt")
    (ckpts / "best-step0000005.pt").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError) as e:
        _fit(tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "weights_only" not in msg
    kept = sorted(p.name for p in ckpts.iterdir())
    assert [k for k in kept if ".corrupt-" in k] == kept  # both files moved aside, none deleted
    assert len(kept) == 2 and all(k in msg for k in kept)
    assert f"remove {ckpts}" in msg and "output_dir" in msg
    assert _fit(tmp_path, max_steps=2).steps == 2  # the next run starts fresh beside the kept files


def test_corrupt_before_any_best_checkpoint(tmp_path):
    _fit(tmp_path, stop_at_step=3)  # no validation yet: no best-*.pt
    (tmp_path / "checkpoints" / "last.pt").write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(CheckpointError, match="no intact best-step"):
        _fit(tmp_path)


def test_unpicklable_checkpoint_message_has_no_unsafe_advice(tmp_path):
    path = tmp_path / "last.pt"
    torch.save({"model": {}, "thing": Path("x")}, path)  # a pickled class: refused by weights_only loading
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert str(e.value).startswith(f"{path}: cannot read checkpoint: ")
    assert "weights_only" not in str(e.value) and "\n" not in str(e.value)
    assert isinstance(e.value, ValueError)  # the CLI reports ValueErrors in one line


def _stale(path: Path, size: int, age_s: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    t = time.time() - age_s
    os.utime(path, (t, t))
    return path


def test_stale_temporary_files_are_removed_when_training_starts(tmp_path, caplog):
    ckpts = tmp_path / "checkpoints"
    stale = [_stale(ckpts / ".last.pt.ab12cd_3.tmp", 300_000, 3600),
             _stale(ckpts / ".best-step0000005.pt.zz99yy00.tmp", 1000, 3600),
             _stale(tmp_path / "model" / ".model.pt.q1w2e3r4.tmp", 2000, 3600)]
    fresh = _stale(ckpts / ".last.pt.newwrite.tmp", 10, -5)  # another process is writing it now
    other = [_stale(ckpts / "notes.tmp", 10, 3600), _stale(ckpts / ".last.pt.tmp", 10, 3600),
             _stale(ckpts / "last.pt.corrupt-20240101-000000", 10, 3600)]
    with caplog.at_level(logging.INFO, logger="speech.train.trainer"):
        _fit(tmp_path, max_steps=1)
    assert not any(p.exists() for p in stale)
    assert fresh.exists() and all(p.exists() for p in other)
    freed = [r.getMessage() for r in caplog.records if "interrupted writes" in r.getMessage()]
    assert any("2 temporary file(s)" in m and "0.3 MB" in m for m in freed), freed


def test_remove_stale_tmp_counts_bytes(tmp_path):
    _stale(tmp_path / ".x.json.abcdefgh.tmp", 1234, 10)
    assert remove_stale_tmp(tmp_path, older_than=time.time()) == (1, 1234)
    assert remove_stale_tmp(tmp_path / "missing") == (0, 0)


def test_unavailable_device_is_one_line():
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"^trainer.device: cuda requested but CUDA is not available on this "
                                             r"machine; use trainer.device=cpu or auto$"):
            resolve_device("cuda")
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:3")
    else:
        n = torch.cuda.device_count()
        with pytest.raises(ValueError, match=f"cuda:{n} requested but this machine has {n} GPU"):
            resolve_device(f"cuda:{n}")
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="trainer.device: 'gpu' is not a device"):
        resolve_device("gpu")
