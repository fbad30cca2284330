import math

import numpy as np
import pytest
import torch

from speech.data.alignments import read_alignments, rle_decode, rle_encode, write_alignments
from speech.data.manifest import ManifestError
from speech.losses import IGNORE, FrameCELoss, frame_ce_loss


def test_frame_ce_matches_manual_and_ignores_padding():
    lp = torch.randn(2, 4, 5).log_softmax(-1)
    labels = torch.tensor([[1, 2, 0, IGNORE], [3, 3, IGNORE, IGNORE]])
    manual = -(lp[0, 0, 1] + lp[0, 1, 2] + lp[0, 2, 0] + lp[1, 0, 3] + lp[1, 1, 3])
    assert torch.allclose(frame_ce_loss(lp, labels, reduction="batchmean"), manual / 2)
    assert torch.allclose(frame_ce_loss(lp, labels, reduction="mean"), manual / 5)
    per = frame_ce_loss(lp, labels, reduction="none")
    assert per.shape == (2,) and torch.allclose(per.sum(), manual)


def test_label_smoothing_and_errors():
    lp = torch.full((1, 2, 4), math.log(0.25))
    labels = torch.tensor([[1, IGNORE]])
    # uniform predictions: CE = log 4 with or without smoothing
    assert torch.allclose(FrameCELoss(label_smoothing=0.3)(lp, labels), torch.tensor(math.log(4.0)))
    peaked = torch.tensor([[[0.97, 0.01, 0.01, 0.01], [0.25] * 4]]).log()
    assert FrameCELoss(label_smoothing=0.3)(peaked, torch.tensor([[0, IGNORE]])) > FrameCELoss()(peaked, torch.tensor([[0, IGNORE]]))
    with pytest.raises(ValueError, match="label_smoothing"):
        FrameCELoss(label_smoothing=1.0)
    with pytest.raises(ValueError, match="shape"):
        frame_ce_loss(lp, torch.zeros(1, 3, dtype=torch.long))


def test_alignment_files_round_trip(tmp_path):
    a = np.array([0, 0, 3, 3, 3, 0, 5])
    assert rle_encode(a) == [[0, 2], [3, 3], [0, 1], [5, 1]]
    assert (rle_decode(rle_encode(a)) == a).all()
    path = write_alignments(tmp_path / "al.jsonl", [("u1", a), ("u2", np.array([], dtype=int))])
    back = read_alignments(path)
    assert (back["u1"] == a).all() and len(back["u2"]) == 0
    (tmp_path / "bad.jsonl").write_text('{"id": "x", "frames": 3, "rle": [[1, 2]]}\n')
    with pytest.raises(ManifestError, match="bad.jsonl:1"):
        read_alignments(tmp_path / "bad.jsonl")
    (tmp_path / "bad2.jsonl").write_text('\nnot json\n')
    with pytest.raises(ManifestError, match="bad2.jsonl:2"):
        read_alignments(tmp_path / "bad2.jsonl")
