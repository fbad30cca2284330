import pytest
import torch

from speech.features import SpecAugmentConfig
from speech.models.asr import BiLSTMConfig, bilstm_ctc
from speech.models.layers import FrameStacking, lengths_to_mask


def _model(**kw):
    torch.manual_seed(0)
    args = dict(hidden_size=16, num_layers=2, dropout=0.0)
    args.update(kw)
    return bilstm_ctc(input_dim=10, vocab_size=7, **args).eval()


@pytest.mark.parametrize("stack,sub,proj", [(1, [], 0), (2, [], 0), (3, [1, 2], 0), (2, [2, 1], 8)])
def test_shapes_and_lengths(stack, sub, proj):
    m = _model(stack_frames=stack, subsample=sub, projection_size=proj)
    x = torch.randn(3, 23, 10)
    lens = torch.tensor([23, 17, 5])
    y, ylens = m(x, lens)
    r = m.time_reduction
    assert r == stack * (sub[0] * sub[1] if sub else 1)
    assert y.shape[0] == 3 and y.shape[2] == 7
    assert y.shape[1] == -(-23 // stack) if not sub else True
    expected = lens
    for f in [stack] + list(sub or []):
        expected = (expected + f - 1) // f
    assert ylens.tolist() == expected.tolist()
    assert torch.allclose(y.exp().sum(-1), torch.ones(y.shape[:2]), atol=1e-5)


def test_padding_does_not_change_outputs():
    """Packed sequences: an utterance gives the same output alone and inside a padded batch."""
    m = _model(stack_frames=2)
    a, b = torch.randn(1, 20, 10), torch.randn(1, 9, 10)
    batch = torch.zeros(2, 20, 10)
    batch[0], batch[1, :9] = a[0], b[0]
    y, ylens = m(batch, torch.tensor([20, 9]))
    ya, _ = m(a, torch.tensor([20]))
    yb, _ = m(b, torch.tensor([9]))
    assert torch.allclose(y[0], ya[0], atol=1e-5)
    assert torch.allclose(y[1, : ylens[1]], yb[0], atol=1e-5)


def test_cmvn_stats_are_in_state_dict():
    m = _model()
    m.cmvn.set_stats(torch.full((10,), 2.0), torch.full((10,), 3.0))
    m2 = _model()
    m2.load_state_dict(m.state_dict())
    assert torch.equal(m2.cmvn.mean, m.cmvn.mean) and torch.equal(m2.cmvn.std, m.cmvn.std)


def test_specaugment_only_in_training():
    m = bilstm_ctc(10, 7, specaugment=SpecAugmentConfig(), hidden_size=8, num_layers=1, dropout=0.0)
    x, lens = torch.randn(2, 40, 10), torch.tensor([40, 30])
    m.eval()
    assert torch.equal(m(x, lens)[0], m(x, lens)[0])
    m.train()
    torch.manual_seed(1)
    y1 = m(x, lens)[0]
    torch.manual_seed(2)
    y2 = m(x, lens)[0]
    assert not torch.allclose(y1, y2)


def test_config_errors_name_the_field():
    with pytest.raises(TypeError, match="hidden"):
        bilstm_ctc(10, 7, hiden_size=3)
    with pytest.raises(ValueError, match="subsample"):
        BiLSTMConfig(num_layers=2, subsample=[1])
    with pytest.raises(ValueError, match="projection_size"):
        BiLSTMConfig(hidden_size=8, projection_size=8)
    with pytest.raises(ValueError, match="dropout"):
        BiLSTMConfig(dropout=1.5)


def test_frame_stacking_and_mask():
    x = torch.arange(2 * 5 * 1, dtype=torch.float).reshape(2, 5, 1)
    y, ylens = FrameStacking(2)(x, torch.tensor([5, 3]))
    assert y.shape == (2, 3, 2)
    assert y[0, 0].tolist() == [0.0, 1.0] and y[0, 2].tolist() == [4.0, 0.0]
    assert ylens.tolist() == [3, 2]
    assert lengths_to_mask(torch.tensor([2, 0, 3])).tolist() == [[True, True, False], [False] * 3, [True] * 3]


def test_utterance_cmn_removes_a_constant_channel_offset():
    torch.manual_seed(0)
    model = bilstm_ctc(input_dim=8, vocab_size=5, hidden_size=16, num_layers=1, utterance_cmn=True).eval()
    x = torch.randn(2, 12, 8)
    lens = torch.tensor([12, 7])
    x[1, 7:] = 0
    shifted = x.clone()
    shifted[0] += torch.randn(8)  # a fixed filter: the same offset in every frame of one utterance
    shifted[1, :7] += 3.0
    a, la = model(x, lens)
    b, lb = model(shifted, lens)
    assert torch.equal(la, lb)
    assert torch.allclose(a[0], b[0], atol=1e-5) and torch.allclose(a[1, :7], b[1, :7], atol=1e-5)
    plain = bilstm_ctc(input_dim=8, vocab_size=5, hidden_size=16, num_layers=1).eval()
    plain.load_state_dict(model.state_dict())
    assert not torch.allclose(plain(x, lens)[0][0], plain(shifted, lens)[0][0], atol=1e-3)
