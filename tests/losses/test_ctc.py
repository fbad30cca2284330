import pytest
import torch
import torch.nn.functional as F

from speech.losses import CTCLoss, ctc_loss


def _inputs(T=30, B=4, C=6, S=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    lp = torch.randn(T, B, C, generator=g).log_softmax(-1)
    tl = torch.randint(1, S + 1, (B,), generator=g)
    tg = torch.randint(1, C, (B, S), generator=g)
    il = torch.randint(T - 5, T + 1, (B,), generator=g)
    return lp, tg, il, tl


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_matches_torch_reductions(reduction):
    lp, tg, il, tl = _inputs()
    ref = F.ctc_loss(lp, tg, il, tl, reduction=reduction)
    assert torch.allclose(ctc_loss(lp, tg, il, tl, reduction=reduction), ref)


def test_batchmean_is_sum_over_batch():
    lp, tg, il, tl = _inputs()
    assert torch.allclose(ctc_loss(lp, tg, il, tl, reduction="batchmean"),
                          F.ctc_loss(lp, tg, il, tl, reduction="sum") / lp.shape[1])


def test_module_is_batch_first_and_zero_infinity():
    lp, tg, il, tl = _inputs(T=10, S=8)
    il = il.clone()
    il[0] = 3  # infeasible: 3 frames for >= 1 label with repeats is fine, force many labels
    tl = tl.clone()
    tl[0] = 8
    m = CTCLoss(reduction="none", zero_infinity=True)
    out = m(lp.transpose(0, 1), il, tg, tl)
    assert out[0] == 0 and torch.isfinite(out).all()
    m2 = CTCLoss(reduction="none", zero_infinity=False)
    assert torch.isinf(m2(lp.transpose(0, 1), il, tg, tl)[0])


def test_unknown_impl_and_reduction_are_rejected():
    lp, tg, il, tl = _inputs()
    with pytest.raises(ValueError, match="loss.impl"):
        ctc_loss(lp, tg, il, tl, impl="nope")
    with pytest.raises(ValueError, match="reduction"):
        ctc_loss(lp, tg, il, tl, reduction="avg")
    with pytest.raises(ValueError, match="loss.impl"):
        CTCLoss(impl="nope")


def test_numba_impl_matches_torch_impl_through_the_module():
    lp, tg, il, tl = _inputs(T=40, B=6, C=9, S=7, seed=3)
    x1 = lp.clone().requires_grad_()
    x2 = lp.clone().requires_grad_()
    a = CTCLoss(impl="torch")(x1.transpose(0, 1), il, tg, tl)
    b = CTCLoss(impl="numba")(x2.transpose(0, 1), il, tg, tl)
    a.backward()
    b.backward()
    assert torch.allclose(a, b, rtol=1e-5)
    assert torch.allclose(x1.grad, x2.grad, atol=1e-4)
