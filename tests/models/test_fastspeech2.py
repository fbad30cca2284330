import math
from pathlib import Path

import pytest
import torch

from speech.losses.tts import FastSpeech2Loss, FastSpeech2LossConfig
from speech.models.tts import FastSpeech2Output, fastspeech2, length_regulate, semitones_to_normalized

V, M = 12, 8  # vocabulary (id 0 = padding) and mel bins of the tiny test models
CONF = Path(__file__).resolve().parents[2] / "conf" / "model" / "tts" / "fastspeech2.yaml"


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one intra-op thread is faster than contending for a busy machine's cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model(**kw):
    torch.manual_seed(0)
    args = dict(hidden_size=16, encoder_layers=2, decoder_layers=2, variance_hidden=16, n_bins=16,
                postnet_channels=16, dropout=0.0, variance_dropout=0.0)
    args.update(kw)
    return fastspeech2(V, M, **args)


def _set_duration_bias(model, frames: float):
    """Make the (random) duration predictor output about log(1 + frames) everywhere."""
    with torch.no_grad():
        model.duration_predictor.out.weight.zero_()
        model.duration_predictor.out.bias.fill_(math.log1p(frames))


def _batch():
    torch.manual_seed(1)
    phonemes = torch.randint(1, V, (3, 6))
    lens = torch.tensor([6, 4, 1])
    phonemes[1, 4:] = 0
    phonemes[2, 1:] = 0
    durations = torch.tensor([[2, 0, 3, 1, 1, 2], [1, 2, 0, 4, 0, 0], [3, 0, 0, 0, 0, 0]])
    pitch = torch.randn(3, 6)
    energy = torch.randn(3, 6)
    return phonemes, lens, durations, pitch, energy


@pytest.mark.parametrize("encoder,decoder,postnet,speakers,embedding", [
    ("conv", "conv", False, 1, "bins"),
    ("lstm", "lstm", True, 1, "conv"),
    ("conv", "lstm", True, 3, "bins"),
    ("lstm", "conv", False, 3, "conv"),
])
def test_shapes_training_and_inference(encoder, decoder, postnet, speakers, embedding):
    m = _model(encoder=encoder, decoder=decoder, postnet=postnet, n_speakers=speakers, variance_embedding=embedding)
    phonemes, lens, durations, pitch, energy = _batch()
    spk = torch.tensor([0, 2, 1]) if speakers > 1 else None
    out = m.train()(phonemes, lens, durations, pitch, energy, speakers=spk)
    assert isinstance(out, FastSpeech2Output)
    assert out.mel.shape == (3, 9, M)
    assert out.mel_lens.tolist() == [9, 7, 3] == durations.sum(1).tolist()
    assert torch.equal(out.durations_used, durations)
    assert (out.mel_postnet is not None) == postnet
    if postnet:
        assert out.mel_postnet.shape == out.mel.shape
    for t in (out.log_duration_pred, out.pitch_pred, out.energy_pred):
        assert t.shape == (3, 6)
        assert t[1, 4:].abs().sum() == 0 and t[2, 1:].abs().sum() == 0
    assert out.mel[1, 7:].abs().sum() == 0 and out.mel[2, 3:].abs().sum() == 0
    out.mel.sum().backward()  # differentiable end to end

    m.eval()
    _set_duration_bias(m, 3.0)
    with torch.inference_mode():
        inf = m(phonemes, lens, speakers=spk)
    assert inf.mel_lens.tolist() == [18, 12, 3]
    assert inf.mel.shape == (3, 18, M)
    assert inf.durations_used[1, 4:].sum() == 0


def test_speakers_required_and_change_output():
    m = _model(n_speakers=2).eval()
    phonemes, lens, durations, pitch, energy = _batch()
    with pytest.raises(ValueError, match="speakers"):
        m(phonemes, lens, durations, pitch, energy)
    a = m(phonemes, lens, durations, pitch, energy, speakers=torch.zeros(3, dtype=torch.long)).mel
    b = m(phonemes, lens, durations, pitch, energy, speakers=torch.ones(3, dtype=torch.long)).mel
    assert not torch.allclose(a, b)


def test_length_regulator_hand_example():
    x = torch.tensor([[[1.0], [2.0], [3.0], [4.0]], [[5.0], [6.0], [7.0], [0.0]]])
    durations = torch.tensor([[2, 0, 3, 1], [0, 1, 2, 0]])
    frames, lens, index = length_regulate(x, durations)
    assert lens.tolist() == [6, 3]
    assert frames.squeeze(-1).tolist() == [[1, 1, 3, 3, 3, 4], [6, 7, 7, 0, 0, 0]]
    assert index.tolist() == [[0, 0, 2, 2, 2, 3], [1, 2, 2, -1, -1, -1]]


def test_length_regulator_zero_durations_and_errors():
    x = torch.randn(2, 3, 4)
    frames, lens, _ = length_regulate(x, torch.zeros(2, 3, dtype=torch.long))
    assert frames.shape == (2, 0, 4) and lens.tolist() == [0, 0]
    frames, lens, _ = length_regulate(x, torch.tensor([[0, 0, 0], [1, 0, 2]]))
    assert lens.tolist() == [0, 3] and frames[0].abs().sum() == 0
    assert torch.equal(frames[1], x[1, [0, 2, 2]])
    with pytest.raises(ValueError, match="max_frames=4"):
        length_regulate(x, torch.tensor([[2, 2, 1], [1, 0, 0]]), max_frames=4)
    with pytest.raises(ValueError, match=">= 0"):
        length_regulate(x, torch.tensor([[2, -1, 1], [1, 0, 0]]))


@pytest.mark.parametrize("kind", ["conv", "lstm"])
def test_teacher_forced_zero_frames(kind):
    """Target durations may drop a whole utterance (or batch): shapes stay consistent, no crash."""
    m = _model(encoder=kind, decoder=kind, postnet=True)
    phonemes, lens, durations, pitch, energy = _batch()
    out = m(phonemes, lens, torch.zeros_like(durations), pitch, energy)
    assert out.mel.shape == (3, 0, M) and out.mel_postnet.shape == (3, 0, M) and out.mel_lens.tolist() == [0, 0, 0]
    durations[2] = 0
    out = m(phonemes, lens, durations, pitch, energy)
    assert out.mel_lens.tolist() == [9, 7, 0] and out.mel[2].abs().sum() == 0


def test_max_frames_in_model():
    m = _model(max_frames=20).eval()
    _set_duration_bias(m, 10.0)
    phonemes, lens, *_ = _batch()
    with pytest.raises(ValueError, match="max_frames=20"):
        m(phonemes, lens)


@pytest.mark.parametrize("kind", ["conv", "lstm"])
def test_padding_invariance(kind):
    m = _model(encoder=kind, decoder=kind, postnet=True).eval()
    _set_duration_bias(m, 2.0)
    with torch.no_grad():  # a non-constant duration predictor so inference durations vary per phoneme
        m.duration_predictor.out.weight.normal_(0, 0.5)
    phonemes, lens, durations, pitch, energy = _batch()
    full = m(phonemes, lens, durations, pitch, energy)
    inf = m(phonemes, lens)
    for i in range(3):
        n, t = int(lens[i]), int(durations[i].sum())
        alone = m(phonemes[i:i + 1, :n], lens[i:i + 1], durations[i:i + 1, :n], pitch[i:i + 1, :n],
                  energy[i:i + 1, :n])
        assert torch.allclose(alone.mel[0], full.mel[i, :t], atol=1e-5)
        assert torch.allclose(alone.mel_postnet[0], full.mel_postnet[i, :t], atol=1e-5)
        assert torch.allclose(alone.log_duration_pred[0], full.log_duration_pred[i, :n], atol=1e-5)
        assert torch.allclose(alone.pitch_pred[0], full.pitch_pred[i, :n], atol=1e-5)
        alone_inf = m(phonemes[i:i + 1, :n], lens[i:i + 1])
        assert torch.equal(alone_inf.durations_used[0], inf.durations_used[i, :n])
        t = int(inf.mel_lens[i])
        assert torch.allclose(alone_inf.mel[0], inf.mel[i, :t], atol=1e-5)


def test_speed_control():
    m = _model().eval()
    _set_duration_bias(m, 8.0)
    phonemes, lens, *_ = _batch()
    with torch.inference_mode():
        base = m(phonemes, lens).mel_lens.float()
        fast = m(phonemes, lens, speed=2.0).mel_lens.float()
        slow = m(phonemes, lens, speed=0.5).mel_lens.float()
    assert base.tolist() == [48, 32, 8]
    assert torch.allclose(fast, base / 2, rtol=0.15)
    assert torch.allclose(slow, base * 2, rtol=0.15)
    with pytest.raises(ValueError, match="speed"):
        m(phonemes, lens, speed=0.0)


def test_all_zero_durations_give_one_frame():
    m = _model().eval()
    _set_duration_bias(m, 0.0)  # every phoneme rounds to 0 frames
    phonemes, lens, *_ = _batch()
    with torch.inference_mode():
        out = m(phonemes, lens)
    assert out.mel_lens.tolist() == [1, 1, 1]
    assert out.durations_used.sum(1).tolist() == [1, 1, 1]
    assert out.durations_used[1, 4:].sum() == 0 and out.durations_used[2, 1:].sum() == 0


@pytest.mark.parametrize("embedding", ["bins", "conv"])
def test_pitch_shift_and_energy_scale(embedding):
    m = _model(variance_embedding=embedding).eval()
    _set_duration_bias(m, 3.0)
    phonemes, lens, *_ = _batch()
    with torch.inference_mode():
        base = m(phonemes, lens)
        up = m(phonemes, lens, pitch_shift=1.0)
        loud = m(phonemes, lens, energy_scale=3.0)
    assert torch.equal(base.durations_used, up.durations_used)
    assert torch.equal(base.pitch_pred, up.pitch_pred)  # predictions are reported before the shift
    assert not torch.allclose(base.mel, up.mel)
    assert torch.equal(base.durations_used, loud.durations_used)
    assert not torch.allclose(base.mel, loud.mel)


def test_semitones_to_normalized():
    assert semitones_to_normalized(12, math.log(2)) == pytest.approx(1.0)
    assert semitones_to_normalized(-6, 0.25) == pytest.approx(-0.5 * math.log(2) / 0.25)
    with pytest.raises(ValueError, match="log_f0_std"):
        semitones_to_normalized(1, 0.0)


def _fake_output(mel, postnet, lens, logd, pitch, energy):
    return FastSpeech2Output(mel, postnet, lens, logd, pitch, energy, torch.zeros_like(logd, dtype=torch.long))


def test_loss_hand_computed_and_mse_option():
    mel = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]]])
    target = torch.tensor([[[0.0, 2.0], [3.0, 6.0], [0.0, 0.0]]])
    lens = torch.tensor([2])
    logd = torch.tensor([[math.log(3.0), 0.5]])
    pitch_pred, energy_pred = torch.tensor([[1.0, 7.0]]), torch.tensor([[0.0, 7.0]])
    out = _fake_output(mel, None, lens, logd, pitch_pred, energy_pred)
    durations, pitch, energy = torch.tensor([[2, 0]]), torch.tensor([[3.0, 0.0]]), torch.tensor([[0.5, 0.0]])
    phoneme_lens = torch.tensor([1])
    cfg = FastSpeech2LossConfig(duration_weight=2.0, pitch_weight=0.5)
    total, parts = FastSpeech2Loss(cfg)(out, target, durations, pitch, energy, phoneme_lens)
    # mel: |1-0| + 0 + 0 + |4-6| over 4 values; duration: (ln3 - ln3)^2 = 0; pitch (1-3)^2; energy 0.5^2
    assert parts["mel"].item() == pytest.approx(0.75)
    assert parts["duration"].item() == pytest.approx(0.0, abs=1e-7)
    assert parts["pitch"].item() == pytest.approx(4.0)
    assert parts["energy"].item() == pytest.approx(0.25)
    assert "postnet" not in parts
    assert total.item() == pytest.approx(0.75 + 0.5 * 4.0 + 0.25)

    out = _fake_output(mel, mel + 1, lens, logd, pitch_pred, energy_pred)
    total, parts = FastSpeech2Loss(mel_loss="mse")(out, target, durations, pitch, energy, phoneme_lens)
    assert parts["mel"].item() == pytest.approx((1 + 4) / 4)
    assert parts["postnet"].item() == pytest.approx((4 + 1 + 1 + 1) / 4)  # mel + 1 vs target: 2, 1, 1, -1
    assert total.item() == pytest.approx(1.25 + 1.75 + 4.0 + 0.25)


def test_loss_ignores_padding():
    m = _model(postnet=True).train()
    phonemes, lens, durations, pitch, energy = _batch()
    out = m(phonemes, lens, durations, pitch, energy)
    target = torch.randn(3, 9, M)
    loss = FastSpeech2Loss()
    total, parts = loss(out, target, durations, pitch, energy, lens)

    target2, pitch2, energy2, durations2 = target.clone(), pitch.clone(), energy.clone(), durations.clone()
    target2[1, 7:] = 100.0
    target2[2, 3:] = -100.0
    pitch2[1, 4:], energy2[1, 4:], durations2[1, 4:] = 50.0, -50.0, 99
    pitch2[2, 1:], energy2[2, 1:], durations2[2, 1:] = 50.0, -50.0, 99
    total2, parts2 = loss(out, target2, durations2, pitch2, energy2, lens)
    assert total2.item() == pytest.approx(total.item())
    for k in parts:
        assert parts2[k].item() == pytest.approx(parts[k].item())
    # a longer padded target (more frames than the model produced) changes nothing either
    longer = torch.cat([target, torch.full((3, 5, M), 7.0)], dim=1)
    total3, _ = loss(out, longer, durations, pitch, energy, lens)
    assert total3.item() == pytest.approx(total.item())
    total.backward()


@pytest.mark.parametrize("decoder,factor", [("conv", 10.0), ("lstm", 4.0)])
def test_overfits_one_utterance(decoder, factor):
    """Teacher-forced training on one utterance drives the mel loss down by ``factor`` within 300 steps."""
    torch.manual_seed(0)
    m = _model(hidden_size=32, variance_hidden=16, decoder=decoder, postnet=False).train()
    phonemes = torch.randint(1, V, (1, 7))
    lens = torch.tensor([7])
    durations = torch.tensor([[3, 5, 2, 6, 1, 4, 3]])
    pitch, energy = torch.randn(1, 7), torch.randn(1, 7)
    target = torch.randn(1, int(durations.sum()), M)
    loss_fn = FastSpeech2Loss()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    first = None
    for _ in range(300):
        out = m(phonemes, lens, durations, pitch, energy)
        total, parts = loss_fn(out, target, durations, pitch, energy, lens)
        opt.zero_grad()
        total.backward()
        opt.step()
        first = parts["mel"].item() if first is None else first
        if parts["mel"].item() < first / factor and parts["duration"].item() < 0.05:
            break
    assert parts["mel"].item() < first / factor
    assert parts["duration"].item() < 0.05 and parts["pitch"].item() < 0.05


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="encoder"):
        fastspeech2(V, M, encoder="transformer")
    with pytest.raises(ValueError, match="decoder"):
        fastspeech2(V, M, decoder="gru")
    with pytest.raises(ValueError, match="kernel_size"):
        fastspeech2(V, M, kernel_size=4)
    with pytest.raises(ValueError, match="hidden_size"):
        fastspeech2(V, M, hidden_size=15)
    with pytest.raises(ValueError, match="variance_dropout"):
        fastspeech2(V, M, variance_dropout=1.0)
    with pytest.raises(ValueError, match="bins_min"):
        fastspeech2(V, M, bins_min=3.0, bins_max=-3.0)
    with pytest.raises(ValueError, match="variance_embedding"):
        fastspeech2(V, M, variance_embedding="linear")
    with pytest.raises(TypeError, match="hiden_size"):
        fastspeech2(V, M, hiden_size=8)
    with pytest.raises(ValueError, match="mel_loss"):
        FastSpeech2LossConfig(mel_loss="huber")
    with pytest.raises(ValueError, match="pitch_weight"):
        FastSpeech2Loss(pitch_weight=-1.0)
    with pytest.raises(TypeError, match="mel_wieght"):
        FastSpeech2Loss(mel_wieght=1.0)


def test_hydra_config_instantiates_defaults():
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(CONF)
    m = instantiate(cfg, vocab_size=75, n_mels=80)
    defaults = fastspeech2(75, 80)
    assert m.cfg == defaults.cfg  # the YAML mirrors the dataclass defaults
    assert 1_000_000 < m.num_parameters() < 4_000_000
