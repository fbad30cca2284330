"""Activation recomputation (model.asr.recompute, model.tts.recompute): the same loss and gradients as
storing the activations, fewer bytes saved for backward, unchanged weight names and inference."""
import pytest
import torch
import torch.nn.functional as F

from speech.features import SpecAugmentConfig
from speech.models.asr import bilstm_ctc
from speech.models.tts import fastspeech2


def saved_bytes(fn):
    """Run fn() and return (its result, bytes of the distinct tensors autograd saved for backward meanwhile)."""
    seen = {}

    def pack(t):
        seen[(t.data_ptr(), t.numel(), t.dtype)] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(seen.values())


def _asr(recompute, cell="lstm", recompute_layers=0):
    torch.manual_seed(0)
    return bilstm_ctc(input_dim=10, vocab_size=7, specaugment=SpecAugmentConfig(freq_width=3, max_time_width=4),
                      hidden_size=12, num_layers=3, dropout=0.3, cell=cell, recompute=recompute,
                      recompute_layers=recompute_layers).train()


def _asr_step(model):
    """Loss and gradients of one CTC step on a fixed padded batch (lengths differ: packed sequences)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 30, 10, generator=g)
    lens = torch.tensor([30, 21, 9])
    targets = torch.randint(1, 7, (3, 4), generator=g)
    torch.manual_seed(123)  # the dropout and SpecAugment draws

    def step():
        logp, out_lens = model(x, lens)
        return F.ctc_loss(logp.transpose(0, 1), targets, out_lens, torch.tensor([4, 3, 2]))

    loss, nbytes = saved_bytes(step)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}, nbytes


@pytest.mark.parametrize("cell", ["lstm", "mi_lstm"])
def test_asr_recompute_same_gradients_fewer_saved_bytes(cell):
    loss0, grads0, bytes0 = _asr_step(_asr(False, cell))
    loss1, grads1, bytes1 = _asr_step(_asr(True, cell))
    assert torch.allclose(loss0, loss1, atol=1e-5)
    assert grads0.keys() == grads1.keys()
    for name in grads0:
        assert torch.allclose(grads0[name], grads1[name], atol=1e-5), name
    assert bytes1 < 0.7 * bytes0, (bytes1, bytes0)


def test_recomputing_some_layers_saves_in_between_with_the_same_gradients():
    """recompute_layers=k: the first k layers recomputed, the rest stored; gradients unchanged."""
    loss0, grads0, bytes_store = _asr_step(_asr(False))
    _, _, bytes_all = _asr_step(_asr(True))
    loss1, grads1, bytes_one = _asr_step(_asr(True, recompute_layers=1))
    assert torch.allclose(loss0, loss1, atol=1e-5)
    for name in grads0:
        assert torch.allclose(grads0[name], grads1[name], atol=1e-5), name
    assert bytes_all < bytes_one < bytes_store
    with pytest.raises(ValueError, match="model.asr.recompute_layers: 4 is out of range"):
        _asr(True, recompute_layers=4)


def test_asr_recompute_keeps_weight_names_and_inference():
    """A package's weights load either way, and eval / no-grad outputs are unchanged."""
    on, off = _asr(True), _asr(False)
    assert list(on.state_dict()) == list(off.state_dict())
    assert bilstm_ctc(input_dim=10, vocab_size=7).cfg.recompute is False  # configs written before the key
    on.eval()
    off.eval()
    x, lens = torch.randn(2, 15, 10), torch.tensor([15, 8])
    with torch.no_grad():
        assert torch.equal(on(x, lens)[0], off(x, lens)[0])
    _, nbytes_on = saved_bytes(lambda: on(x, lens)[0].sum())
    _, nbytes_off = saved_bytes(lambda: off(x, lens)[0].sum())
    assert nbytes_on == nbytes_off  # eval with grad on: nothing is checkpointed


def _tts(recompute, kind):
    torch.manual_seed(0)
    return fastspeech2(vocab_size=9, n_mels=6, hidden_size=8, encoder=kind, decoder=kind, encoder_layers=2,
                       decoder_layers=2, variance_hidden=8, dropout=0.3, recompute=recompute).train()


def _tts_step(model):
    g = torch.Generator().manual_seed(2)
    phonemes = torch.randint(1, 9, (2, 6), generator=g)
    lens = torch.tensor([6, 4])
    phonemes[1, 4:] = 0
    durations = torch.tensor([[1, 2, 3, 1, 2, 1], [2, 1, 1, 3, 0, 0]])
    pitch, energy = torch.randn(2, 6, generator=g), torch.randn(2, 6, generator=g)
    target = torch.randn(2, 10, 6, generator=g)
    torch.manual_seed(321)

    def step():
        out = model(phonemes, lens, durations=durations, pitch=pitch, energy=energy)
        return ((out.mel - target[:, :out.mel.shape[1]]) ** 2).mean() + out.pitch_pred.square().mean()

    loss, nbytes = saved_bytes(step)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}, nbytes


@pytest.mark.parametrize("kind", ["lstm", "conv"])
def test_tts_recompute_same_gradients_fewer_saved_bytes(kind):
    loss0, grads0, bytes0 = _tts_step(_tts(False, kind))
    loss1, grads1, bytes1 = _tts_step(_tts(True, kind))
    assert torch.allclose(loss0, loss1, atol=1e-5)
    assert grads0.keys() == grads1.keys() and grads0
    for name in grads0:
        assert torch.allclose(grads0[name], grads1[name], atol=1e-5), name
    assert bytes1 < bytes0, (bytes1, bytes0)
    assert list(_tts(True, kind).state_dict()) == list(_tts(False, kind).state_dict())
