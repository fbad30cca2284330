"""The lean inference path: every torch entry point (transcription, word times, streaming, acoustic
model, Griffin-Lim, HiFi-GAN) runs its model under ``torch.inference_mode`` with frozen parameters
and returns nothing autograd tracks; Griffin-Lim's in-place, grouped work arrays and synthesis's
single-copy joining give what the straightforward versions gave."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import soundfile as sf
import torch

import speech.models.vocoders.griffin_lim as gl
import speech.pipelines.transcriber as transcriber_mod
from speech.audio import save
from speech.config import compose, instantiate
from speech.features import FbankConfig, tts_fbank
from speech.packages.asr import save_asr_package
from speech.pipelines.streaming import TorchStreamRecognizer
from speech.pipelines.synthesis import open_synthesizer, synthesize_to_file, wav_bytes
from speech.pipelines.transcriber import Transcriber
from speech.runtime.synthesis import SynthesizerCore
from speech.text.g2p import default_g2p
from speech.text.phonemes import PhonemeTokenizer
from speech.text.tokenizer import CharTokenizer

CFG16 = FbankConfig()  # 16 kHz, win 400 < n_fft 512, pre-emphasis 0.97
CFG22 = tts_fbank()  # 22.05 kHz, win = n_fft = 1024, no pre-emphasis


class ModeSpy:
    """Forward hook: whether each call ran in inference mode, and whether its outputs carry autograd state."""

    def __init__(self, module: torch.nn.Module):
        self.modes: list[bool] = []
        self.tracked: list[bool] = []
        module.register_forward_hook(self)

    def __call__(self, module, args, out):
        self.modes.append(torch.is_inference_mode_enabled())
        outs = out if isinstance(out, (tuple, list)) else getattr(out, "__dict__", {}).values() \
            if not isinstance(out, torch.Tensor) else [out]
        self.tracked += [t.requires_grad or t.grad_fn is not None for t in outs if isinstance(t, torch.Tensor)]

    def check(self):
        assert self.modes and all(self.modes), self.modes
        assert not any(self.tracked)


def _noise(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


def test_transcriber_runs_a_frozen_model_in_inference_mode(tiny_package):
    tr = Transcriber(tiny_package)
    spy = ModeSpy(tr.pkg.model)
    assert not any(p.requires_grad for p in tr.pkg.model.parameters())
    lp, _ = tr._log_probs([_noise(1.0, tr.sample_rate), _noise(0.6, tr.sample_rate, 1)])
    assert not lp.requires_grad and lp.grad_fn is None and lp.is_inference()
    items = [("a.wav", _noise(1.0, tr.sample_rate), []), ("b.wav", _noise(0.7, tr.sample_rate, 2), [])]
    out = tr.transcribe_waveforms(items, timestamps=True)
    assert len(out) == 2 and all(t.words is not None for t in out)
    spy.check()


def test_word_times_are_aligned_in_inference_mode(tiny_package, monkeypatch):
    seen = []
    align = transcriber_mod.align_log_probs

    def spy(pkg, log_probs, text, offset):
        seen.append(torch.is_inference_mode_enabled())
        return align(pkg, log_probs, text, offset)

    monkeypatch.setattr(transcriber_mod, "align_log_probs", spy)
    tr = Transcriber(tiny_package)
    lp, lens = tr._log_probs([_noise(1.0, tr.sample_rate)])
    tr._words(lp[0, : int(lens[0])], "one", 0.0)
    assert seen == [True]


def test_streaming_runs_in_inference_mode(tmp_path):
    cfg = compose(["experiment=fsdd", "model.asr.hidden_size=16", "model.asr.num_layers=1",
                   "model.asr.bidirectional=false", "features.fbank.level_db=null"])
    tok = CharTokenizer.build(["zero", "one"])
    torch.manual_seed(0)
    model = instantiate(cfg.model.asr, input_dim=cfg.features.fbank.n_mels, vocab_size=len(tok), specaugment=None)
    model.cmvn.set_stats(torch.full((80,), -5.0), torch.full((80,), 2.0))
    pkg = save_asr_package(tmp_path / "model", cfg, tok, model.state_dict(), {"steps": 0})
    rec = TorchStreamRecognizer(pkg)
    spy = ModeSpy(rec.step)
    wav = _noise(1.0, 8000)
    for a in range(0, len(wav), 1600):
        rec.accept(wav[a:a + 1600])
    rec.finish()
    spy.check()


@pytest.mark.parametrize("vocoder", ["griffin-lim", "hifigan"])
def test_synthesizer_runs_frozen_models_in_inference_mode(tiny_voice, tiny_vocoder, vocoder, monkeypatch):
    synth = open_synthesizer(tiny_voice, vocoder="griffin-lim" if vocoder == "griffin-lim" else str(tiny_vocoder),
                             gl_iters=2)
    spy = ModeSpy(synth.package.model)
    assert not any(p.requires_grad for p in synth.package.model.parameters())
    vocoder_modes = []
    if vocoder == "griffin-lim":
        run = gl.GriffinLimVocoder._griffin_lim

        def spy_gl(self, log_mel, lengths):
            vocoder_modes.append(torch.is_inference_mode_enabled())
            return run(self, log_mel, lengths)

        monkeypatch.setattr(gl.GriffinLimVocoder, "_griffin_lim", spy_gl)
    else:
        ModeSpy(synth.vocoder.generator).modes = vocoder_modes
        assert not any(p.requires_grad for p in synth.vocoder.generator.parameters())
    res = synth.synthesize("Hello there. How are you today?")
    assert res.wav.dtype == np.float32 and res.wav.size > 0
    spy.check()
    assert vocoder_modes and all(vocoder_modes)


# -- Griffin-Lim: the lean version against the straightforward one -----------------------------


def _reference_mel_to_linear_power(mel_power, fbank, n_iter):
    fb, spread, rows, _ = gl._inverse_tensors(fbank, mel_power.device)
    m = mel_power.float()
    p = m @ spread
    scale = torch.where(rows > 0, 1.0 / rows.clamp_min(1e-12), torch.zeros_like(rows))
    for _ in range(n_iter):
        p = p * (((m / (p @ fb).clamp_min(torch.finfo(torch.float32).tiny)) @ fb.T) * scale)
    return p


def _reference_griffin_lim(voc: gl.GriffinLimVocoder, log_mel: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The whole batch at once, a fresh tensor for every step (the vocoder before the lean path)."""
    cfg = voc.fbank
    b, t, _ = log_mel.shape
    win, hop, n_fft = cfg.win_length, cfg.hop_length, cfg.fft_size
    _, _, _, window = gl._inverse_tensors(cfg, log_mel.device)
    x = log_mel.float().masked_fill(~(torch.arange(t)[None, :] < lengths[:, None])[..., None], math.log(cfg.log_floor))
    valid = (torch.arange(t)[None, :] < lengths[:, None]).float()
    power = _reference_mel_to_linear_power(x.clamp(math.log(cfg.log_floor), gl._LOG_MEL_MAX).exp(), cfg, voc.mel_iter)
    mag = power.sqrt() * valid[..., None]
    n = (t - 1) * hop + win
    norm = voc._overlap_add((window * window).expand(b, t, win) * valid[..., None], n)
    interior = float((window * window).sum()) / hop
    inv_norm = torch.where(norm > 0, 1.0 / norm.clamp_min(gl._OLA_FLOOR * interior), torch.zeros_like(norm))

    def istft(spec):
        frames = torch.fft.irfft(spec, n=n_fft, dim=-1)[..., :win]
        return voc._overlap_add(frames * window, n) * inv_norm

    def stft(y):
        return torch.fft.rfft(y.unfold(-1, win, hop) * window, n=n_fft, dim=-1)

    g = torch.Generator().manual_seed(int(voc.seed))
    angle = 2 * math.pi * torch.rand(t, mag.shape[-1], generator=g)
    spec = mag * torch.polar(torch.ones_like(angle), angle)[None]
    prev = None
    for _ in range(voc.n_iter):
        rebuilt = stft(istft(spec))
        target = rebuilt if prev is None or voc.momentum == 0 else rebuilt + voc.momentum * (rebuilt - prev)
        prev = rebuilt
        spec = mag * torch.sgn(target)
    wav = istft(spec)
    wav = torch.nn.functional.pad(wav, (0, max(0, t * hop - n)))[:, : t * hop]
    if cfg.preemphasis > 0:
        wav = gl._deemphasize(wav, cfg.preemphasis)
    wav = wav * (torch.arange(t * hop)[None, :] < (lengths * hop)[:, None])
    peak = wav.abs().amax(dim=1, keepdim=True)
    return torch.where(peak > 1, wav / peak.clamp_min(1e-12), wav).clamp(-1.0, 1.0)


def test_mel_inversion_in_place_equals_the_formula():
    mel = torch.randn(3, 50, CFG22.n_mels, generator=torch.Generator().manual_seed(0)).exp()
    torch.testing.assert_close(gl.mel_to_linear_power(mel, CFG22, 7), _reference_mel_to_linear_power(mel, CFG22, 7),
                               atol=0, rtol=1e-6)
    torch.testing.assert_close(gl.mel_to_linear_power(mel, CFG22, 0), _reference_mel_to_linear_power(mel, CFG22, 0))


@pytest.mark.parametrize("cfg", [CFG16, CFG22], ids=["16k-preemph", "22k"])
@pytest.mark.parametrize("momentum", [0.99, 0.0])
@pytest.mark.parametrize("group_frames", [100_000, 200], ids=["one-group", "groups"])
def test_lean_griffin_lim_equals_the_straightforward_one(cfg, momentum, group_frames, monkeypatch):
    monkeypatch.setattr(gl, "GROUP_FRAMES", group_frames)
    voc = gl.GriffinLimVocoder(cfg, n_iter=6, momentum=momentum, mel_iter=5)
    log_mel = torch.randn(4, 90, cfg.n_mels, generator=torch.Generator().manual_seed(1)) - 4
    lengths = torch.tensor([90, 70, 33, 0])
    got = voc(log_mel, lengths)
    assert got.shape == (4, 90 * cfg.hop_length) and not got.requires_grad
    torch.testing.assert_close(got, _reference_griffin_lim(voc, log_mel, lengths), atol=1e-6, rtol=0)


def test_row_groups_cover_every_row_in_order_within_the_budget():
    lengths = [5, 9, 9, 30, 2, 40, 40, 41]
    groups = gl._row_groups(lengths, 80)
    assert [i for a, e in groups for i in range(a, e)] == list(range(len(lengths)))
    assert all(e - a == 1 or (e - a) * max(lengths[a:e]) <= 80 for a, e in groups)
    assert gl._row_groups([100], 10) == [(0, 1)] and gl._row_groups([], 10) == []


# -- joining the pieces of a long synthesis ------------------------------------------------------


class _FakeCore(SynthesizerCore):
    """Deterministic pieces: piece k (in text order) is k + 1 everywhere, one frame per token."""

    sample_rate, hop_length = 1000, 10

    def __init__(self):
        super().__init__(PhonemeTokenizer(), default_g2p(), max_tokens=12, batch_size=3)
        self.seen: dict[tuple, float] = {}

    @property
    def pitch_std(self) -> float:
        return 0.2

    def _batch(self, ids, speaker, speed, pitch_shift, energy_scale):
        out = []
        for q in ids:
            value = self.seen.setdefault(tuple(q), float(len(self.seen) + 1))
            out.append({"mel": np.full((len(q), 4), -value, np.float32), "wav": np.full(len(q) * 10, value, np.float32),
                        "durations": np.ones(len(q), np.int64), "f0_hz": np.full(len(q), 100.0, np.float32)})
        return out


def test_long_synthesis_is_joined_in_order_with_sentence_silence():
    core = _FakeCore()
    text = "The first sentence is long enough to be cut at its comma, here. A second one. Third!"
    res = core.synthesize(text, sentence_silence=0.05)
    pieces = res.pieces
    assert len(pieces) > 3 and len({p["sentence"] for p in pieces}) == 3
    gap = round(0.05 * core.sample_rate / core.hop_length)
    want_wav, want_mel = [], []
    for i, p in enumerate(pieces):
        value = core.seen[tuple(p["ids"])]
        want_wav.append(np.full(len(p["ids"]) * 10, value, np.float32))
        want_mel.append(np.full((len(p["ids"]), 4), -value, np.float32))
        last_of_sentence = i + 1 < len(pieces) and pieces[i + 1]["sentence"] != p["sentence"]
        assert p.get("silence_frames", 0) == (gap if last_of_sentence else 0)
        if last_of_sentence:
            want_wav.append(np.zeros(gap * 10, np.float32))
            want_mel.append(np.full((gap, 4), -float(len(core.seen)), np.float32))
    assert res.wav.dtype == np.float32 and res.mel.dtype == np.float32
    np.testing.assert_array_equal(res.wav, np.concatenate(want_wav))
    np.testing.assert_array_equal(res.mel, np.concatenate(want_mel))
    assert np.array_equal(core.synthesize(text).wav, np.concatenate([w for w in want_wav if w.any()]))


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_a_long_synthesis_is_written_part_by_part_as_the_whole_would_be(tmp_path, suffix):
    core = _FakeCore()
    text = "The first sentence is long enough to be cut at its comma, here. A second one. Third!"
    res = core.synthesize(text, sentence_silence=0.05)
    res.wav_parts = [p / 8 - 0.3 for p in res.wav_parts]  # in range, and the first part: clipped
    res.wav_parts[0][:5] = 1.5
    assert len(res.wav_parts) > 3
    written = synthesize_to_file(_Fixed(core, res), text, tmp_path / f"parts{suffix}")
    assert len(res.wav_parts) > 3 and written.duration == pytest.approx(res.duration)
    joined = _joined_copy(res)
    save(tmp_path / f"whole{suffix}", joined.wav, core.sample_rate)
    a, _ = sf.read(tmp_path / f"whole{suffix}", dtype="float32")
    b, _ = sf.read(written.path, dtype="float32")
    np.testing.assert_array_equal(a, b)
    assert wav_bytes(res) == wav_bytes(joined)


class _Fixed:
    """A synthesizer that returns one prepared result (the writing path alone)."""

    def __init__(self, core, res):
        self.res = res
        self.hop_seconds = core.hop_seconds

    def synthesize(self, text, **_):
        return self.res


def _joined_copy(res):
    return dataclasses.replace(res, wav_parts=[np.concatenate(res.wav_parts)])


def test_an_encoder_refusing_a_part_by_part_file_is_one_line_and_leaves_nothing(tmp_path):
    core = _FakeCore()  # 1,000 Hz: Opus refuses the rate
    res = core.synthesize("A first sentence. A second one.")
    assert len(res.wav_parts) > 1
    out = tmp_path / "x.opus"
    with pytest.raises(ValueError) as e:
        synthesize_to_file(_Fixed(core, res), "A first sentence.", out)
    msg = str(e.value)
    assert msg.startswith(f"{out}: cannot write (") and "expected a writable OGG destination" in msg and "\n" not in msg
    assert list(tmp_path.iterdir()) == []


def test_log_probs_are_the_outputs_transcription_decodes(tiny_package):
    """Transcriber.log_probs (for decoders run outside, e.g. LM tuning) gives each waveform's own
    (T_i, V) outputs in input order, the same ones transcription decodes, whatever the batching."""
    from speech.decoding.greedy import ctc_greedy_decode

    rng = np.random.default_rng(5)
    wavs = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (4000, 9000, 2500)]
    tr = Transcriber(tiny_package, batch_size=2)
    lps = tr.log_probs(wavs)
    assert [lp.dtype for lp in lps] == [np.float32] * 3 and lps[1].shape[0] > lps[0].shape[0] > lps[2].shape[0]
    texts = [tr.tokenizer.decode(ctc_greedy_decode(torch.from_numpy(lp)[None], torch.tensor([len(lp)]),
                                                   blank=tr.tokenizer.blank_id)[0]) for lp in lps]
    assert texts == tr.transcribe_arrays(wavs)
    alone = Transcriber(tiny_package, batch_size=1).log_probs([wavs[0]])[0]
    np.testing.assert_allclose(alone, lps[0], atol=1e-5)
