"""The numba CPU CTC kernel against torch's ctc_loss (float64) and the numpy reference."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from speech.kernels.ctc import CTCLossNumba, ctc_costs_and_grads, ctc_loss, ctc_loss_from_logits, ctc_reference
from speech.kernels.ctc.functional import release_workspace
from speech.kernels.ctc.reference import min_frames


def make_case(T, B, C, L, seed=0, blank=0, repeats=False, lengths="random", dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(T, B, C, generator=g, dtype=torch.float64)
    labels = [c for c in range(C) if c != blank]
    tl = torch.randint(0 if L == 0 else max(1, L // 2), L + 1, (B,), generator=g) if lengths == "random" else torch.full((B,), L)
    tg = torch.tensor(labels)[torch.randint(0, len(labels), (B, max(L, 1)), generator=g)]
    if repeats and L >= 2:
        tg[:, 1] = tg[:, 0]
    tg = tg[:, :L] if L else torch.zeros(B, 0, dtype=torch.long)
    need = torch.tensor([min_frames(tg[b, : tl[b]].numpy()) for b in range(B)])
    il = torch.maximum(need, torch.randint(max(1, T // 2), T + 1, (B,), generator=g)).clamp(max=T)
    il[0] = T
    return logits.to(dtype), tg, il, tl


def torch_reference(logits, tg, il, tl, blank=0):
    """Costs and grads w.r.t. log_probs from torch in float64."""
    lp = logits.double().log_softmax(-1).detach().requires_grad_()
    costs = F.ctc_loss(lp, tg, il, tl, blank=blank, reduction="none", zero_infinity=False)
    costs.sum().backward()
    return lp.detach(), costs.detach(), lp.grad


def ours(lp, tg, il, tl, blank=0, dtype=torch.float32, **kw):
    x = lp.to(dtype).detach().requires_grad_()
    costs = ctc_loss(x, tg, il, tl, blank=blank, reduction="none", **kw)
    costs.sum().backward()
    return costs.detach().double(), x.grad.double()


def assert_close(costs, grads, ref_costs, ref_grads, dtype):
    rtol, atol = (1e-5, 1e-4) if dtype == torch.float32 else (1e-9, 1e-9)
    assert torch.allclose(costs, ref_costs, rtol=rtol, atol=1e-6 if dtype == torch.float32 else 1e-9), (costs, ref_costs)
    assert torch.allclose(grads, ref_grads, atol=atol, rtol=0, equal_nan=True), (grads - ref_grads).abs().max()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("T,B,C,L", [
    (30, 1, 2, 5), (50, 7, 29, 12), (120, 32, 29, 30), (200, 7, 500, 40), (60, 7, 5000, 10),
    (1000, 7, 29, 200), (400, 32, 32, 80),
])
def test_matches_torch(T, B, C, L, dtype):
    lp, ref_costs, ref_grads = torch_reference(*make_case(T, B, C, L, seed=T + B, repeats=True))
    _, tg, il, tl = make_case(T, B, C, L, seed=T + B, repeats=True)
    costs, grads = ours(lp, tg, il, tl, dtype=dtype)
    assert_close(costs, grads, ref_costs, ref_grads, dtype)


@pytest.mark.parametrize("blank", [0, 3, 5])
def test_matches_numpy_reference(blank):
    logits, tg, il, tl = make_case(25, 4, 6, 6, seed=blank, blank=blank, repeats=True)
    lp = logits.double().log_softmax(-1)
    ref_costs, ref_grads = ctc_reference(lp.numpy(), tg.numpy(), il.numpy(), tl.numpy(), blank)
    costs, grads = ours(lp, tg, il, tl, blank=blank, dtype=torch.float64)
    assert np.allclose(costs.numpy(), ref_costs, rtol=1e-9)
    assert np.allclose(grads.numpy(), ref_grads, atol=1e-9)
    _, t_costs, t_grads = torch_reference(logits, tg, il, tl, blank)
    assert torch.allclose(costs, t_costs, rtol=1e-9)


def test_edge_cases_minimal_infeasible_empty():
    C = 6
    # utterance 0: L = 0; 1: T exactly the minimum (labels 1 1 2 need 4 frames); 2: infeasible; 3: T_b = 0, L = 0
    tg = torch.tensor([[0, 0, 0], [1, 1, 2], [3, 3, 3], [0, 0, 0]])
    tl = torch.tensor([0, 3, 3, 0])
    il = torch.tensor([5, 4, 4, 0])
    logits = torch.randn(5, 4, C, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    lp, ref_costs, ref_grads = torch_reference(logits, tg, il, tl)
    costs, grads = ours(lp, tg, il, tl, dtype=torch.float64)
    assert torch.isinf(costs[2]) and torch.isinf(ref_costs[2])
    assert torch.allclose(costs, ref_costs, equal_nan=True)
    assert torch.allclose(grads, ref_grads, atol=1e-9, equal_nan=True)
    # zero_infinity: the infeasible utterance gives 0 and a zero gradient, exactly like torch
    x = lp.clone().requires_grad_()
    F.ctc_loss(x, tg, il, tl, reduction="sum", zero_infinity=True).backward()
    y = lp.clone().requires_grad_()
    loss = ctc_loss(y, tg, il, tl, reduction="sum", zero_infinity=True)
    loss.backward()
    assert torch.isfinite(loss) and torch.allclose(y.grad, x.grad, atol=1e-9)
    assert (y.grad[:, 2] == 0).all()


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_reductions_and_concatenated_targets(reduction):
    logits, tg, il, tl = make_case(40, 7, 10, 8, seed=5)
    lp = logits.log_softmax(-1)
    concat = torch.cat([tg[b, : tl[b]] for b in range(7)])
    for targets in (tg, concat):
        a = lp.double().detach().requires_grad_()
        ref = F.ctc_loss(a, targets, il, tl, reduction=reduction)
        ref.sum().backward()
        b = lp.detach().requires_grad_()
        got = ctc_loss(b, targets, il, tl, reduction=reduction)
        got.sum().backward()
        assert got.dtype == torch.float32
        assert torch.allclose(got.double(), ref, rtol=1e-5)
        assert torch.allclose(b.grad.double(), a.grad, atol=1e-4)


def test_underflow_falls_back_to_log_space():
    """Very confident, wrong outputs underflow linear space; the log-space fallback keeps the exact loss."""
    lp = torch.full((12, 2, 5), -800.0, dtype=torch.float64)
    lp[:, :, 0] = 0.0  # all mass on blank, the targets get e^-800
    lp[:, 1] = torch.randn(12, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).log_softmax(-1)
    tg, il, tl = torch.tensor([[1, 2], [3, 4]]), torch.tensor([12, 12]), torch.tensor([2, 2])
    x = lp.clone().requires_grad_()
    ref = F.ctc_loss(x, tg, il, tl, reduction="none")
    ref.sum().backward()
    costs, grads = ours(lp, tg, il, tl, dtype=torch.float64)
    assert ref[0] > 1500 and torch.allclose(costs, ref.detach(), rtol=1e-12)
    assert torch.allclose(grads, x.grad, atol=1e-9)


def test_nan_input_gives_nan_loss_for_that_utterance_only():
    logits, tg, il, tl = make_case(20, 3, 6, 4, seed=2, lengths="full")
    lp = logits.log_softmax(-1)
    lp[5, 1, tg[1, 0]] = float("nan")
    costs, grads = ours(lp, tg, il, tl)
    assert torch.isnan(costs[1]) and torch.isfinite(costs[[0, 2]]).all()
    assert torch.isnan(grads[:, 1]).all() and torch.isfinite(grads[:, [0, 2]]).all()


def test_from_logits_fused_path_equals_log_softmax_path():
    logits, tg, il, tl = make_case(60, 7, 29, 10, seed=3)
    a = logits.detach().requires_grad_()
    ctc_loss(a.log_softmax(-1), tg, il, tl, reduction="mean").backward()
    b = logits.detach().requires_grad_()
    loss = ctc_loss_from_logits(b, tg, il, tl, reduction="mean")
    loss.backward()
    assert torch.allclose(a.grad, b.grad, atol=1e-6)
    m = CTCLossNumba(reduction="mean", from_logits=True)
    assert torch.allclose(m(logits, tg, il, tl), loss)


def test_grad_buffer_is_used_and_checked():
    logits, tg, il, tl = make_case(30, 4, 8, 5, seed=4)
    lp = logits.log_softmax(-1)
    buf = torch.empty_like(lp)
    costs, grads = ctc_costs_and_grads(lp, tg, il, tl, grad_buffer=buf)
    assert grads.data_ptr() == buf.data_ptr()
    _, ref_costs, ref_grads = torch_reference(logits, tg, il, tl)
    assert torch.allclose(grads.double(), ref_grads, atol=1e-4)
    with pytest.raises(ValueError, match="grad_buffer"):
        ctc_costs_and_grads(lp, tg, il, tl, grad_buffer=torch.empty(3))
    costs2, none = ctc_costs_and_grads(lp, tg, il, tl, compute_grad=False)
    assert none is None and torch.allclose(costs2, costs)
    release_workspace()  # the next call allocates again and still agrees
    assert torch.allclose(ctc_costs_and_grads(lp, tg, il, tl, compute_grad=False)[0], costs)


def test_gradcheck_float64():
    logits, tg, il, tl = make_case(8, 2, 4, 3, seed=6, lengths="full")
    x = logits.double().detach().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda z: ctc_loss(z.log_softmax(-1), tg, il, tl, reduction="sum"), (x,), eps=1e-6, atol=1e-5)
    assert torch.autograd.gradcheck(
        lambda z: ctc_loss_from_logits(z, tg, il, tl, reduction="mean"), (x,), eps=1e-6, atol=1e-5)


def test_rejects_what_torch_rejects():
    lp = torch.randn(10, 2, 5).log_softmax(-1)
    tg, il, tl = torch.tensor([[1, 2], [3, 4]]), torch.tensor([10, 10]), torch.tensor([2, 2])
    with pytest.raises(ValueError, match="at most T"):
        ctc_loss(lp, tg, torch.tensor([11, 10]), tl)
    with pytest.raises(ValueError, match="blank"):
        ctc_loss(lp, torch.tensor([[1, 0], [3, 4]]), il, tl)
    with pytest.raises(ValueError, match="non-negative"):
        ctc_loss(lp, tg, il, torch.tensor([-1, 2]))
    with pytest.raises(TypeError, match="float32 or float64"):
        ctc_loss(lp.half(), tg, il, tl)
    with pytest.raises(TypeError, match="integers"):
        ctc_loss(lp, tg.float(), il, tl)
    with pytest.raises(ValueError, match="padded target length"):
        ctc_loss(lp, tg, il, torch.tensor([3, 2]))
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        ctc_loss(lp, torch.tensor([[1, 7], [3, 4]]), il, tl)
    with pytest.raises(ValueError, match="3-D"):
        ctc_loss(lp[0], tg, il, tl)


def test_backward_twice():
    logits, tg, il, tl = make_case(10, 2, 4, 2, seed=7, lengths="full")
    x = logits.log_softmax(-1).detach().requires_grad_()
    loss = ctc_loss(x, tg, il, tl, reduction="mean")
    loss.backward(retain_graph=True)
    first = x.grad.clone()
    loss.backward()  # the second backward recomputes the gradient the first one handed over
    assert torch.allclose(x.grad, 2 * first)
    ref = x.detach().double().requires_grad_()
    F.ctc_loss(ref, tg, il, tl, reduction="mean").backward()
    assert torch.allclose(first.double(), ref.grad, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(T=st.integers(1, 40), B=st.integers(1, 5), C=st.integers(2, 8), L=st.integers(0, 8),
       seed=st.integers(0, 10_000), blank=st.integers(0, 7))
def test_random_cases_match_torch(T, B, C, L, seed, blank):
    blank = blank % C
    g = torch.Generator().manual_seed(seed)
    logits = 2 * torch.randn(T, B, C, generator=g, dtype=torch.float64)
    labels = torch.tensor([c for c in range(C) if c != blank])
    tg = labels[torch.randint(0, len(labels), (B, max(L, 1)), generator=g)][:, :L]
    tl = torch.randint(0, L + 1, (B,), generator=g)
    il = torch.randint(0, T + 1, (B,), generator=g)
    lp, ref_costs, ref_grads = torch_reference(logits, tg, il, tl, blank)
    costs, grads = ours(lp, tg, il, tl, blank=blank, dtype=torch.float64)
    assert torch.allclose(costs, ref_costs, rtol=1e-9, equal_nan=True)
    finite = torch.isfinite(ref_costs)
    assert torch.allclose(grads[:, finite], ref_grads[:, finite], atol=1e-9)


# --- the fused gradient pass, its vectorized exp, the row layouts and the reused buffers ---


@pytest.mark.parametrize("dtype,rtol", [(np.float32, 3e-7), (np.float64, 2e-15)])
def test_fast_exp_matches_exp(dtype, rtol):
    from numba import njit

    from speech.kernels.ctc.fastexp import fast_exp

    @njit
    def run(x, y):
        for i in range(x.shape[0]):
            y[i] = fast_exp(x[i])

    lo = -87.3 if dtype == np.float32 else -708.0
    x = np.concatenate([np.linspace(lo, 80.0 if dtype == np.float32 else 700.0, 200_001),
                        -np.random.default_rng(0).exponential(3.0, 100_000)]).astype(dtype)
    y = np.empty_like(x)
    run(x, y)
    exact = np.exp(x.astype(np.float64))  # of the same (rounded) inputs
    assert np.max(np.abs(y - exact) / exact) < rtol
    special = np.array([0.0, -np.inf, np.nan, -1000.0, 1000.0], dtype)
    out = np.empty_like(special)
    run(special, out)
    assert out[0] == 1.0 and out[1] == 0.0 and np.isnan(out[2]) and out[3] == 0.0 and out[4] == np.inf


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("from_logits", [False, True])
def test_batch_first_input_is_read_in_place_and_gradient_comes_back_batch_first(dtype, from_logits):
    """A batch-first model's (B, T, C) output transposed to (T, B, C): same values, no copy of the input,
    and the gradient that reaches the (B, T, C) tensor is contiguous like it."""
    logits, tg, il, tl = make_case(70, 5, 12, 9, seed=11, repeats=True)
    lp, ref_costs, ref_grads = torch_reference(logits, tg, il, tl)
    src = (logits if from_logits else lp).to(dtype).transpose(0, 1).contiguous().requires_grad_()  # (B, T, C)
    fn = ctc_loss_from_logits if from_logits else ctc_loss
    costs = fn(src.transpose(0, 1), tg, il, tl, reduction="none")
    (costs * torch.arange(1, 6, dtype=dtype)).sum().backward()  # per-utterance weights: the fused scale
    assert src.grad.is_contiguous()
    want = ref_grads * torch.arange(1, 6, dtype=torch.float64).view(1, -1, 1)
    atol = 1e-4 if dtype == torch.float32 else 1e-9
    if from_logits:  # the gradient w.r.t. logits is the same expression (exp(lp) - occupancy)
        assert torch.allclose(costs.double(), ref_costs, rtol=1e-5 if dtype == torch.float32 else 1e-9)
    assert torch.allclose(src.grad.transpose(0, 1).double(), want, atol=atol * 5)
    with pytest.raises(ValueError, match="grad_buffer"):  # a caller's buffer must be laid out like the input
        ctc_costs_and_grads(src.detach().transpose(0, 1), tg, il, tl, grad_buffer=torch.empty(70, 5, 12, dtype=dtype))
    buf = torch.empty_like(src).transpose(0, 1)
    _, g = ctc_costs_and_grads(src.detach().transpose(0, 1), tg, il, tl, from_logits=from_logits, grad_buffer=buf)
    assert g.data_ptr() == buf.data_ptr() and torch.allclose(g.double(), ref_grads, atol=atol * 5)


def test_reused_gradient_buffer_never_overwrites_a_gradient_still_in_use():
    """Step 1's gradient, adopted as x1.grad (no copy), must survive step 2's call on a same-shaped
    input; once released, its memory is reused (no new allocation per step)."""
    logits1, tg, il, tl = make_case(40, 6, 15, 7, seed=21)
    logits2, _, _, _ = make_case(40, 6, 15, 7, seed=22)
    release_workspace()
    x1 = logits1.log_softmax(-1).detach().requires_grad_()
    ctc_loss(x1, tg, il, tl, reduction="sum").backward()
    g1 = x1.grad.clone()
    x2 = logits2.log_softmax(-1).detach().requires_grad_()
    ctc_loss(x2, tg, il, tl, reduction="sum").backward()
    assert x1.grad.data_ptr() != x2.grad.data_ptr()
    assert torch.equal(x1.grad, g1)  # not overwritten by the second step
    _, _, ref2 = torch_reference(logits2, tg, il, tl)
    assert torch.allclose(x2.grad.double(), ref2, atol=1e-4)
    ptr1 = x1.grad.data_ptr()
    x1.grad = None  # released: the next call may take that memory again
    x3 = logits1.log_softmax(-1).detach().requires_grad_()
    ctc_loss(x3, tg, il, tl, reduction="sum").backward()
    assert x3.grad.data_ptr() == ptr1
    assert torch.allclose(x3.grad, g1)


def test_occupancies_of_a_pending_backward_survive_a_second_forward():
    """Two losses computed before one backward (two heads, or a retained graph): each backward uses
    its own saved occupancies, not the table the other forward reused."""
    logits1, tg, il, tl = make_case(30, 4, 9, 6, seed=31)
    logits2, _, _, _ = make_case(30, 4, 9, 6, seed=32)
    a = logits1.log_softmax(-1).detach().requires_grad_()
    b = logits2.log_softmax(-1).detach().requires_grad_()
    la = ctc_loss(a, tg, il, tl, reduction="sum")
    lb = ctc_loss(b, tg, il, tl, reduction="sum")
    (la + lb).backward()
    for x, logits in ((a, logits1), (b, logits2)):
        _, _, ref = torch_reference(logits, tg, il, tl)
        assert torch.allclose(x.grad.double(), ref, atol=1e-4)


def test_second_backward_without_retained_graph_is_refused():
    logits, tg, il, tl = make_case(10, 2, 4, 2, seed=8, lengths="full")
    x = logits.log_softmax(-1).detach().requires_grad_()
    loss = ctc_loss(x, tg, il, tl)
    loss.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


@settings(max_examples=25, deadline=None)
@given(T=st.integers(1, 30), B=st.integers(1, 4), C=st.integers(2, 40), L=st.integers(0, 8),
       seed=st.integers(0, 10_000), blank=st.integers(0, 7), zero_infinity=st.booleans())
def test_random_cases_from_logits_float32_match_torch(T, B, C, L, seed, blank, zero_infinity):
    """The fused path end to end in float32 (fast exp, scale folded into the pass) on random edge
    shapes: L = 0, T = 1, repeated labels, lengths below T, infeasible utterances."""
    blank = blank % C
    g = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(T, B, C, generator=g, dtype=torch.float64)
    labels = torch.tensor([c for c in range(C) if c != blank])
    tg = labels[torch.randint(0, len(labels), (B, max(L, 1)), generator=g)][:, :L]
    if L >= 2:
        tg[:, 1] = tg[:, 0]
    tl = torch.randint(0, L + 1, (B,), generator=g)
    il = torch.randint(0, T + 1, (B,), generator=g)
    w = torch.rand(B, generator=g, dtype=torch.float64) + 0.5
    ref_x = logits.clone().requires_grad_()
    ref = F.ctc_loss(ref_x.log_softmax(-1), tg, il, tl, blank=blank, reduction="none", zero_infinity=zero_infinity)
    (ref * w).sum().backward()
    x = logits.float().requires_grad_()
    got = ctc_loss_from_logits(x, tg, il, tl, blank=blank, reduction="none", zero_infinity=zero_infinity)
    (got * w.float()).sum().backward()
    assert torch.allclose(got.double(), ref.detach(), rtol=1e-5, atol=1e-4, equal_nan=True)
    finite = torch.isfinite(ref.detach()) | torch.tensor(zero_infinity)
    assert torch.allclose(x.grad.double()[:, finite], ref_x.grad[:, finite], atol=1e-5, rtol=1e-4)


def test_one_thread_budget_sets_torch_and_numba():
    import numba

    from speech.kernels.threads import set_num_threads

    before = torch.get_num_threads(), numba.get_num_threads()
    try:
        assert set_num_threads(1) == 1
        assert torch.get_num_threads() == 1 and numba.get_num_threads() == 1
        if numba.config.NUMBA_NUM_THREADS >= 2:  # a small pass runs on one thread, then the budget is back
            set_num_threads(2)
            logits, tg, il, tl = make_case(20, 3, 6, 4, seed=9)
            ctc_loss(logits.log_softmax(-1).requires_grad_(), tg, il, tl).backward()
            assert numba.get_num_threads() == 2 and torch.get_num_threads() == 2
        with pytest.raises(ValueError, match="positive thread count, got 0"):
            set_num_threads(0)
    finally:
        torch.set_num_threads(before[0])
        numba.set_num_threads(before[1])


@pytest.mark.parametrize("from_logits", [False, True])
def test_serial_and_threaded_passes_give_the_same_numbers(monkeypatch, from_logits):
    """Small passes run on the calling thread, large ones on numba's threads: both give the same bits."""
    import speech.kernels.ctc.functional as fn

    logits, tg, il, tl = make_case(60, 5, 9, 6, seed=11, repeats=True)
    x = logits if from_logits else logits.log_softmax(-1)
    results = []
    for serial_below in (0, 1 << 40):  # everything threaded, then everything on the calling thread
        monkeypatch.setattr(fn, "_SERIAL_BELOW", serial_below)
        costs, grads = ctc_costs_and_grads(x, tg, il, tl, from_logits=from_logits)
        results.append((costs.clone(), grads.clone()))
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])
    ref_costs = F.ctc_loss(logits.log_softmax(-1), tg, il, tl, reduction="none")
    assert torch.allclose(results[0][0], ref_costs.double(), rtol=1e-5)


def test_target_errors_name_what_is_wrong():
    lp = torch.randn(10, 2, 5).log_softmax(-1)
    il, tl = torch.tensor([10, 10]), torch.tensor([2, 2])
    with pytest.raises(ValueError, match="concatenated targets hold 3 labels but target_lengths sum to 4"):
        ctc_loss(lp, torch.tensor([1, 2, 3]), il, tl)
    with pytest.raises(ValueError, match=r"padded targets must have shape \(B=2, S\)"):
        ctc_loss(lp, torch.tensor([[1, 2]]), il, tl)
    with pytest.raises(ValueError, match=r"got values in \[-3, 4\]"):
        ctc_loss(lp, torch.tensor([[1, -3], [3, 4]]), il, tl)
    with pytest.raises(ValueError, match="batch size 2"):
        ctc_loss(lp, torch.tensor([[1, 2], [3, 4]]), il, torch.tensor([2]))
    # lists of ints and int32 tensors are accepted like int64 tensors
    a = ctc_loss(lp, [[1, 2], [3, 4]], [10, 9], [2, 1], reduction="none")
    b = ctc_loss(lp, torch.tensor([[1, 2], [3, 4]], dtype=torch.int32), torch.tensor([10, 9]), torch.tensor([2, 1]),
                 reduction="none")
    assert torch.equal(a, b)


def test_one_thread_budget_holds_when_omp_num_threads_is_set():
    """Starting numba's OpenMP pool used to raise torch's thread count back to the pool size when
    OMP_NUM_THREADS was set, so `trainer.num_threads=1` trained on two threads."""
    import subprocess
    import sys

    code = ("import torch\nfrom speech.kernels.threads import set_num_threads\n"
            "torch.ones(4096).sum(); print(torch.get_num_threads())\n"  # torch's pool in use, as before training
            "set_num_threads(1)\nprint(torch.get_num_threads())\n")
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "1"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_label_below_float32_exp_range_still_counts(dtype):
    """A confident model can put the label that lies on the best path below e^-87, where float32's exp
    gives 0. The emissions are then taken in float64: the cost is torch's 104.74, not the 115.26 of the
    second-best path, and the gradient puts the label's occupancy on frame 2 (found by a random search
    over logits of scale 50)."""
    lp = torch.tensor([[0.0, -77.343, -19.704, -83.813],
                       [-4.4583e-05, -43.403, -10.018, -142.56],
                       [-71.857, -104.74, 0.0, -120.49]], dtype=torch.float64).log_softmax(-1)[:, None]
    tg, il, tl = torch.tensor([[1]]), torch.tensor([3]), torch.tensor([1])
    ref = lp.detach().requires_grad_()
    ref_cost = F.ctc_loss(ref, tg, il, tl, reduction="none")
    ref_cost.sum().backward()
    assert 104 < float(ref_cost) < 105.5
    costs, grads = ours(lp, tg, il, tl, dtype=dtype)
    assert_close(costs, grads, ref_cost.detach(), ref.grad, dtype)
    # the fused path from logits reads its emissions the same way
    cost = ctc_loss_from_logits(lp.to(dtype), tg, il, tl, reduction="none")
    assert torch.allclose(cost.double(), ref_cost.detach(), rtol=1e-5)
