"""Synthesis jobs (speech.pipelines.synthesis, speech.pipelines.vocode) on an untrained tiny voice: batch
files checked line by line, results and per-line failures yielded in order with totals, the vocoder
loaded on the requested device, copy synthesis of one file, and the one place control ranges live."""
from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf

import speech.pipelines.synthesis as synthesis
import speech.pipelines.synthesizer as synthesizer
import speech.pipelines.vocode as vocode
from speech.cli.main import main
from speech.pipelines.results import Failure
from speech.pipelines.synthesis import (
    SynthesisBatch,
    Written,
    open_synthesizer,
    synthesize_to_file,
)
from speech.pipelines.synthesizer import check_controls


@pytest.fixture(scope="module")
def synth(tiny_voice):
    return open_synthesizer(tiny_voice, gl_iters=1)


def test_batch_file_is_checked_line_by_line(tmp_path):
    f = tmp_path / "p.tsv"
    f.write_text("# prompts\n\na1\tHello there.\nno separator\n.hidden|Hi.\na1\tAgain.\n|x\nb2|  \nc3|Fine.\n")
    batch = SynthesisBatch.read(f)
    assert [(x.line, x.id, x.text) for x in batch.lines] == [(3, "a1", "Hello there."), (9, "c3", "Fine.")]
    assert [p.error for p in batch.problems] == [
        f"{f}:4: expected 'id<TAB>text' or 'id|text', got 'no separator'",
        f"{f}:5: id '.hidden' is not usable as a file name (letters, digits, '.', '_', '-'; not starting with "
        "'.' or '-')",
        f"{f}:6: duplicate id 'a1' (first on line 3)",
        f"{f}:7: empty id",
        f"{f}:8: b2: empty text"]
    assert all(p.path.startswith(f"{f}:") for p in batch.problems)


@pytest.mark.parametrize("content, words", [(b"", "no lines to synthesize"), (b"# only a comment\n", "no lines"),
                                            (b"a\t\xe9t\xe9\n", "not UTF-8 text")])
def test_unusable_batch_files_are_one_line(tmp_path, content, words):
    f = tmp_path / "p.tsv"
    f.write_bytes(content)
    with pytest.raises(ValueError, match=words):
        SynthesisBatch.read(f)
    with pytest.raises(FileNotFoundError, match="cannot read the batch file"):
        SynthesisBatch.read(tmp_path / "missing.tsv")


def test_batch_run_yields_results_and_failures_in_order_with_totals(synth, tmp_path):
    f = tmp_path / "p.tsv"
    f.write_text("a1\tHello there.\nbad line\nb2|\u2603 \u2603\nc3|Fine, thanks.\n")
    batch = SynthesisBatch.read(f)
    out = tmp_path / "wavs"
    results = list(batch.run(synth, out, plot_dir=tmp_path / "png", speed=1.2))
    kinds = [type(r).__name__ for r in results]
    assert kinds == ["Failure", "Written", "Failure", "Written"]
    assert results[0].error.startswith(f"{f}:2: expected")
    assert results[2].error.startswith(f"{f}:3: b2: nothing to synthesize")
    written = [r for r in results if isinstance(r, Written)]
    assert [w.path for w in written] == [out / "a1.wav", out / "c3.wav"]
    assert all(w.path.is_file() and w.plot.is_file() for w in written)
    assert (batch.written, batch.failed) == (2, 2)
    assert batch.audio_seconds == pytest.approx(sum(w.duration for w in written))
    assert batch.rtf == pytest.approx(sum(w.seconds for w in written) / batch.audio_seconds)
    assert batch.summary() == f"2 written, 2 failed, {batch.audio_seconds:.1f} s of audio, RTF {batch.rtf:.3f}"
    assert sf.info(out / "a1.wav").samplerate == synth.sample_rate


def test_batch_run_refuses_a_file_as_output_folder_and_reports_unwritable_lines(synth, tmp_path):
    f = tmp_path / "p.tsv"
    f.write_text("a1\tHello.\n")
    not_dir = tmp_path / "out.wav"
    not_dir.write_bytes(b"x")
    with pytest.raises(ValueError, match="not a folder"):
        list(SynthesisBatch.read(f).run(synth, not_dir))
    assert math.isnan(SynthesisBatch.read(f).rtf)
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "a1.wav").mkdir()  # the output path is taken by a folder
    [r] = list(SynthesisBatch.read(f).run(synth, blocked))
    assert isinstance(r, Failure) and r.error.startswith(f"{f}:1: {blocked / 'a1.wav'}: ")


def test_synthesize_to_file(synth, tmp_path):
    r = synthesize_to_file(synth, "Hello \x1b there.", tmp_path / "x.flac", plot=tmp_path / "x.png")
    assert r.path.is_file() and r.plot.is_file() and r.duration > 0 and r.rtf > 0
    assert r.warnings == ["could not pronounce (skipped): \x1b"]
    with pytest.raises(ValueError, match="is a folder"):
        synthesize_to_file(synth, "Hello.", tmp_path)
    with pytest.raises(ValueError, match=r"x\.xyz: cannot write"):
        synthesize_to_file(synth, "Hello.", tmp_path / "x.xyz")


def _spy(monkeypatch, module, name="load_vocoder"):
    calls = []
    real = getattr(module, name)

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)
    monkeypatch.setattr(module, name, spy)
    return calls


def test_the_device_reaches_the_vocoder(tiny_voice, tmp_path, monkeypatch, capsys):
    """--device is passed to the vocoder too (a HiFi-GAN given to `speech synthesize --device cuda` once ran
    on the CPU). On a machine with CUDA the vocoder is checked to sit on the GPU."""
    calls = _spy(monkeypatch, synthesis)
    assert main(["synthesize", "Hello.", "-o", str(tmp_path / "a.wav"), "--model", str(tiny_voice), "--gl-iters",
                 "1", "--device", "cpu"]) == 0
    assert calls and calls[-1]["device"] == "cpu"
    calls = _spy(monkeypatch, synthesizer)
    synthesizer.Synthesizer(tiny_voice, vocoder="griffin-lim", device="cpu")
    assert calls and calls[-1]["device"] == "cpu"
    calls = _spy(monkeypatch, vocode)
    assert main(["vocode", str(tmp_path / "a.wav"), "-o", str(tmp_path / "b.wav"), "--device", "cpu"]) == 0
    assert calls and calls[-1]["device"] == "cpu"
    import torch

    if torch.cuda.is_available():
        s = open_synthesizer(tiny_voice, device="cuda")
        assert next(s.package.model.parameters()).is_cuda
        assert s.synthesize("Hello.").wav.size > 0


def test_vocode_file(tmp_path):
    voc = vocode.open_vocoder("griffin-lim")
    wav = tmp_path / "a.wav"
    t = np.arange(voc.sample_rate) / voc.sample_rate
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), voc.sample_rate)
    r = vocode.vocode_file(voc, wav, tmp_path / "b.wav")
    assert r.path.is_file() and r.mel_l1 is not None and r.mel_l1 < 2.0
    assert r.duration == pytest.approx(1.0, abs=0.05)
    mel = tmp_path / "m.npy"
    np.save(mel, np.zeros((20, 7), np.float32))
    with pytest.raises(ValueError, match=r"m\.npy: mel has shape \(20, 7\); expected \(T, 80\)"):
        vocode.vocode_file(voc, mel, tmp_path / "c.wav")
    np.save(mel, np.full((20, 80), -5.0, np.float32))
    assert vocode.vocode_file(voc, mel, tmp_path / "c.wav").mel_l1 is None
    with pytest.raises(FileNotFoundError, match="input not found"):
        vocode.vocode_file(voc, tmp_path / "none.wav", tmp_path / "d.wav")


@pytest.mark.parametrize("controls, words", [({"speed": 0.0}, "[0.25, 4]"), ({"speed": math.nan}, "[0.25, 4]"),
                                             ({"pitch_shift": 30.0}, "semitones in [-24, 24]"),
                                             ({"energy_scale": 0.0}, "(0, 4]")])
def test_controls_are_checked_in_one_place_named_as_the_caller_names_them(controls, words):
    (name, value), = controls.items()
    with pytest.raises(ValueError) as e:
        check_controls(**controls)
    assert str(e.value).startswith(f"{name}={value:g}: expected") and words in str(e.value)
    with pytest.raises(ValueError) as e:
        check_controls(**controls, label=lambda n, v: f"--{n.replace('_', '-')} {v:g}")
    assert str(e.value).startswith(f"--{name.replace('_', '-')} {value:g}: expected")



def test_copy_synthesis_evaluation_of_a_voices_recordings(tiny_voice, tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    t = np.arange(22050) / 22050
    for uid, f0 in (("a", 180.0), ("b", 220.0)):
        sf.write(corpus / f"{uid}.wav", (0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32), 22050)
        (corpus / f"{uid}.txt").write_text("A short prompt.\n")
    out = tmp_path / "report"
    assert main(["evaluate-tts", "--model", str(tiny_voice), "--copy-synthesis", "--corpus", str(corpus),
                 "--ids", "a,b", "--limit", "1", "--no-asr", "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].split() == ["utterances", "1", "(copy", "synthesis", "of", "the", "package's",
                                               "held-out", "recordings)"]
    assert (out / "wavs" / "a.wav").is_file() and not (out / "wavs" / "b.wav").exists()
    r = vocode.evaluate_vocoder_on_voice(tiny_voice, corpus=corpus, ids=["b"], out_dir=tmp_path / "r2",
                                         recognizer=None, progress=False)
    assert r["utterances"] == 1 and r["vocoder"] == "griffin-lim" and r["wav_dir"] == str(tmp_path / "r2" / "wavs")
    with pytest.raises(ValueError, match="meta.json names no corpus|not in the corpus"):
        vocode.evaluate_vocoder_on_voice(tiny_voice, ids=["zz"], recognizer=None, progress=False,
                                         corpus=corpus, out_dir=tmp_path / "r3")
