"""Multiplicative-integration LSTM (speech.models.asr.mi_lstm) and its use in the BiLSTM encoder."""
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from speech.config import ConfigError, compose, instantiate
from speech.models.asr import BiLSTMConfig, BiMILSTM, bilstm_ctc, reverse_within_lengths


def _model(**kw):
    torch.manual_seed(0)
    args = dict(hidden_size=16, num_layers=2, dropout=0.0, cell="mi_lstm")
    args.update(kw)
    return bilstm_ctc(input_dim=10, vocab_size=7, **args).eval()


def _copy_to_torch_lstm(layer: BiMILSTM) -> torch.nn.LSTM:
    """A torch nn.LSTM with the same W, U, b (and projection) as the MI-LSTM layer."""
    ref = torch.nn.LSTM(
        layer.input_size, layer.hidden_size, batch_first=True, bidirectional=True, proj_size=layer.proj_size
    )
    g = 4 * layer.hidden_size
    with torch.no_grad():
        for d, sfx in enumerate(["", "_reverse"]):
            getattr(ref, f"weight_ih_l0{sfx}").copy_(layer.weight_ih[d * g : (d + 1) * g])
            getattr(ref, f"weight_hh_l0{sfx}").copy_(layer.weight_hh[d])
            getattr(ref, f"bias_ih_l0{sfx}").copy_(layer.bias[d])
            getattr(ref, f"bias_hh_l0{sfx}").zero_()
            if layer.proj_size:
                getattr(ref, f"weight_hr_l0{sfx}").copy_(layer.weight_hr[d])
    return ref


def test_reverse_within_lengths():
    x = torch.arange(10.0).view(2, 5, 1)
    lens = torch.tensor([5, 3])
    r = reverse_within_lengths(x, lens)
    assert r[:, :, 0].tolist() == [[4, 3, 2, 1, 0], [7, 6, 5, 8, 9]]
    assert torch.equal(reverse_within_lengths(r, lens), x)


@pytest.mark.parametrize("stack,sub,proj", [(1, [], 0), (2, [], 0), (3, [1, 2], 0), (2, [2, 1], 8)])
def test_shapes_and_lengths(stack, sub, proj):
    m = _model(stack_frames=stack, subsample=sub, projection_size=proj)
    assert all(isinstance(layer, BiMILSTM) for layer in m.encoder.layers)
    x = torch.randn(3, 23, 10)
    lens = torch.tensor([23, 17, 5])
    y, ylens = m(x, lens)
    expected = lens
    for f in [stack] + list(sub or []):
        expected = (expected + f - 1) // f
    assert y.shape == (3, int(expected[0]), 7)
    assert ylens.tolist() == expected.tolist()
    assert torch.allclose(y.exp().sum(-1), torch.ones(y.shape[:2]), atol=1e-5)
    # encoder output dim is 2 * (projection or hidden) per layer before pooling
    h, _ = m.encoder(m.cmvn(x, lens), lens)
    assert h.shape[-1] == m.encoder.output_dim == 2 * (proj or 16) * (sub[-1] if sub else 1)


def test_layer_zeroes_padding_and_handles_longer_padding():
    torch.manual_seed(0)
    layer = BiMILSTM(6, 8)
    x = torch.randn(2, 9, 6)
    lens = torch.tensor([7, 4])
    y = layer(x, lens)
    assert y.shape == (2, 9, 16)
    assert torch.all(y[0, 7:] == 0) and torch.all(y[1, 4:] == 0)
    assert torch.all(y[1, :4].abs().sum(-1) > 0)


@pytest.mark.parametrize("proj", [0, 8])
def test_padding_invariance_both_directions(proj):
    """An utterance alone == the same utterance inside a padded batch (forward and backward halves),
    with garbage (not zeros) in the padding."""
    m = _model(projection_size=proj, stack_frames=2)
    a, b = torch.randn(1, 20, 10), torch.randn(1, 9, 10)
    batch = torch.randn(2, 20, 10) * 5.0
    batch[0], batch[1, :9] = a[0], b[0]
    layer = m.encoder.layers[0]
    layer_in = torch.randn(2, 20, layer.input_size) * 5.0
    layer_in[1, :9] = torch.randn(9, layer.input_size)
    with torch.no_grad():
        yb = layer(layer_in, torch.tensor([20, 9]))
        ya1 = layer(layer_in[:1], torch.tensor([20]))
        yb1 = layer(layer_in[1:, :9], torch.tensor([9]))
    out = layer.output_size
    assert torch.allclose(yb[0], ya1[0], atol=1e-5)
    assert torch.allclose(yb[1, :9, :out], yb1[0, :, :out], atol=1e-5)  # forward direction
    assert torch.allclose(yb[1, :9, out:], yb1[0, :, out:], atol=1e-5)  # backward direction
    assert torch.all(yb[1, 9:] == 0)
    # and through the whole model (stacking, 2 layers, output layer)
    with torch.no_grad():
        y, ylens = m(batch, torch.tensor([20, 9]))
        yb_alone, _ = m(b, torch.tensor([9]))
    assert torch.allclose(y[1, : ylens[1]], yb_alone[0], atol=1e-5)


@pytest.mark.parametrize("proj", [0, 5])
def test_alpha_zero_equals_torch_lstm(proj):
    """alpha = 0, beta1 = beta2 = 1 reduces MI-LSTM to a standard LSTM: checks gate math and order."""
    torch.manual_seed(0)
    layer = BiMILSTM(6, 8, proj_size=proj)
    with torch.no_grad():
        layer.alpha.zero_()
    ref = _copy_to_torch_lstm(layer)
    x = torch.randn(3, 11, 6)
    lens = torch.tensor([11, 6, 2])
    packed = pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
    with torch.no_grad():
        expected, _ = pad_packed_sequence(ref(packed)[0], batch_first=True, total_length=11)
        got = layer(x, lens)
    assert got.shape == expected.shape == (3, 11, 2 * (proj or 8))
    assert torch.allclose(got, expected, atol=1e-5)
    # with the default alpha = 1 the multiplicative term makes a difference
    with torch.no_grad():
        layer.alpha.fill_(1.0)
        assert not torch.allclose(layer(x, lens), expected, atol=1e-3)


def test_gradients_reach_alpha_and_betas():
    m = _model(projection_size=8).train()
    x, lens = torch.randn(2, 15, 10), torch.tensor([15, 10])
    y, ylens = m(x, lens)
    targets = torch.tensor([[1, 2, 3], [4, 5, 0]])
    loss = torch.nn.functional.ctc_loss(y.transpose(0, 1), targets, ylens, torch.tensor([3, 2]))
    loss.backward()
    for layer in m.encoder.layers:
        for name in ["alpha", "beta1", "beta2", "weight_ih", "weight_hh", "bias", "weight_hr"]:
            grad = getattr(layer, name).grad
            assert grad is not None and torch.isfinite(grad).all(), name
            assert grad.abs().sum() > 0, name


def test_overfits_one_batch():
    m = _model(hidden_size=24, num_layers=1).train()
    torch.manual_seed(1)
    x, lens = torch.randn(2, 20, 10), torch.tensor([20, 14])
    targets, tlens = torch.tensor([[1, 2, 3, 4], [5, 6, 0, 0]]), torch.tensor([4, 2])
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)

    def loss_fn():
        y, ylens = m(x, lens)
        return torch.nn.functional.ctc_loss(y.transpose(0, 1), targets, ylens, tlens)

    first = loss_fn().item()
    for _ in range(40):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    last = loss_fn().item()
    assert last < 0.5 * first, (first, last)


def test_bad_cell_is_a_one_line_error():
    with pytest.raises(ValueError, match="cell") as e:
        BiLSTMConfig(cell="gru")
    assert "\n" not in str(e.value) and "gru" in str(e.value)
    with pytest.raises(ConfigError, match="model.asr.cell"):  # checked when composed
        compose(["model.asr.cell=gru"])
    cfg = compose(["model.asr.cell=gru"], check=False)
    with pytest.raises(ConfigError, match="cell"):
        instantiate(cfg.model.asr, input_dim=80, vocab_size=10)


def test_config_selects_mi_lstm():
    cfg = compose(["model.asr.cell=mi_lstm", "model.asr.hidden_size=8", "model.asr.num_layers=2"])
    model = instantiate(cfg.model.asr, input_dim=cfg.features.fbank.n_mels, vocab_size=12)
    assert model.cfg.cell == "mi_lstm"
    assert all(isinstance(layer, BiMILSTM) for layer in model.encoder.layers)
    assert model(torch.randn(2, 12, cfg.features.fbank.n_mels), torch.tensor([12, 7]))[0].shape[0] == 2


def test_lstm_state_dict_keys_unchanged():
    """cell=lstm (the default) keeps the nn.LSTM parameter names that trained packages hold."""
    m = bilstm_ctc(10, 7, hidden_size=8, num_layers=2, projection_size=4)
    keys = {k for k in m.state_dict() if k.startswith("encoder.")}
    expected = {
        f"encoder.layers.{i}.{w}_l0{sfx}"
        for i in range(2)
        for w in ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"]
        for sfx in ["", "_reverse"]
    }
    assert keys == expected
    assert BiLSTMConfig().cell == "lstm"
