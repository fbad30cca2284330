"""Synthesis corpus readers, held-out split, aligner labels, batching, the training task, voice
packages and the synthesizer's text handling (untrained weights: plumbing only)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from speech.data.prepare.tts_corpus import prompt_key, read_tts_corpus, split_heldout
from speech.data.tts import MelCache, TtsDataset, TtsExample, collate_tts, encode_texts
from speech.features import tts_fbank
from speech.features.prosody import TargetStats
from speech.packages.format import PackageError
from speech.packages.voice import load_tts_package, save_tts_package
from speech.pipelines.synthesizer import Synthesizer, _split_long
from speech.text.phonemes import PhonemeTokenizer
from speech.train.tts_aligner import AlignerVocab


def _wav(path, seconds=0.5, sr=22050, f=220.0):
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, 0.3 * np.sin(2 * np.pi * f * t), sr)


def test_folder_corpus_keeps_verbatim_text_and_groups_takes(tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    for uid, text in [("a1_1", "Hello, world."), ("a1_2", "Hello world!"), ("b2_1", "Mr. Lee lives at 221B.")]:
        _wav(audio / f"{uid}.flac")
        (audio / f"{uid}.txt").write_text(text + "\n")
    _wav(audio / "orphan.flac")  # no transcript: skipped
    utts = read_tts_corpus(tmp_path)
    assert [u.id for u in utts] == ["a1_1", "a1_2", "b2_1"]
    assert utts[2].text == "Mr. Lee lives at 221B."  # not ASR-normalized
    assert utts[0].group == utts[1].group == prompt_key("hello world") != utts[2].group


def test_heldout_split_is_by_prompt_and_fixed():
    from speech.data.prepare.tts_corpus import TtsUtterance

    utts = [TtsUtterance(f"p{i}_{take}", "x.wav", f"prompt number {i}", group=prompt_key(f"prompt number {i}"))
            for i in range(400) for take in range(3)]
    train, test = split_heldout(utts, 0.05)
    assert 0.02 < len(test) / len(utts) < 0.09
    assert not {u.group for u in train} & {u.group for u in test}  # every take of a prompt on one side
    assert [u.id for u in split_heldout(list(reversed(utts)), 0.05)[1]] == [u.id for u in reversed(test)]


def test_ljspeech_layout_and_errors(tmp_path):
    (tmp_path / "wavs").mkdir()
    _wav(tmp_path / "wavs" / "LJ001-0001.wav")
    (tmp_path / "metadata.csv").write_text("LJ001-0001|In 1834 it was.|In eighteen thirty-four it was.\n")
    utts = read_tts_corpus(tmp_path)
    assert utts[0].text == "In eighteen thirty-four it was."
    (tmp_path / "metadata.csv").write_text("LJ001-0002|Missing audio.|Missing audio.\n")
    with pytest.raises(FileNotFoundError, match="metadata.csv:1: audio .*LJ001-0002.wav not found"):
        read_tts_corpus(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no recordings with transcripts"):
        read_tts_corpus(empty)
    with pytest.raises(FileNotFoundError, match="corpus folder not found"):
        read_tts_corpus(tmp_path / "nope")


def test_ljspeech_layout_malformed_line_names_file_and_line(tmp_path):
    (tmp_path / "wavs").mkdir()
    _wav(tmp_path / "wavs" / "LJ001-0001.wav")
    (tmp_path / "metadata.csv").write_text("LJ001-0001|One.|One.\nno separator here\n")
    with pytest.raises(ValueError, match=r"metadata.csv:2: expected 'id\|raw text\|normalized text', got"):
        read_tts_corpus(tmp_path)
    (tmp_path / "metadata.csv").write_text("LJ001-0001|One.|One.\nLJ001-0001|Again.|Again.\n")
    with pytest.raises(ValueError, match="metadata.csv:2: id 'LJ001-0001' repeats"):
        read_tts_corpus(tmp_path)


def test_mel_cache_fill_reports_undecodable_audio_and_carries_on(tmp_path):
    _wav(tmp_path / "good.wav")
    (tmp_path / "bad.wav").write_bytes(b"RIFF not really a wav file")
    exs = [TtsExample(uid, "x", np.zeros(1, np.int64), audio=str(tmp_path / f"{uid}.wav")) for uid in ("good", "bad")]
    failed = MelCache(tmp_path / "mels", tts_fbank()).fill(exs)
    assert failed == ["bad"]
    assert exs[0].mel.shape[1] == tts_fbank().n_mels


def test_aligner_labels_drop_stress_map_pauses_and_skip_boundaries():
    tok = PhonemeTokenizer()
    vocab = AlignerVocab(tok)
    ids = tok.encode(["HH", "AH0", "L", "OW1", "<wb>", "W", "ER1", "L", "D", "<pau_short>", "AH1", "<pau_long>"],
                     add_eos=True)
    labels, pos = vocab.labels(np.array(ids))
    names = [vocab.names[i] for i in labels]
    assert names == ["HH", "AH", "L", "OW", "W", "ER", "L", "D", "pau", "AH", "pau"]
    assert 4 not in pos and len(ids) - 1 not in pos  # <wb> and <eos> get no frames
    assert vocab.decode(labels) == " ".join(names)
    assert len(vocab) == 41 and vocab.blank_id == 0


def test_encode_texts_reports_unknown_and_drops_empty():
    from speech.data.prepare.tts_corpus import TtsUtterance

    tok = PhonemeTokenizer()
    utts = [TtsUtterance("a", "", "Hello ☃ world."), TtsUtterance("b", "", "?!..."), TtsUtterance("c", "", "Yes.")]
    examples, report = encode_texts(utts, tok)
    assert [e.id for e in examples] == ["a", "c"]
    assert report["empty"] == ["b"] and "☃" in report["unknown"]
    assert examples[1].phonemes[-1] == tok.eos_id


def test_mel_cache_writes_and_rereads(tmp_path):
    _wav(tmp_path / "x.wav", seconds=0.3)
    ex = TtsExample("x/1", "hi", np.array([1]), audio=str(tmp_path / "x.wav"))
    cache = MelCache(tmp_path / "mels", tts_fbank())
    assert cache.fill([ex]) == []
    assert ex.mel.shape[1] == 80 and cache.path("x/1").is_file() and "/" not in cache.path("x/1").name
    first = ex.mel.copy()
    cache.path("x/1").write_bytes(b"garbage")  # corrupt cache file: recomputed
    assert np.allclose(cache.get("x/1", str(tmp_path / "x.wav")), first)
    bad = TtsExample("bad", "hi", np.array([1]), audio=str(tmp_path / "missing.wav"))
    assert cache.fill([bad]) == ["bad"]


def _example(uid, n_tok, rng):
    dur = rng.integers(0, 6, n_tok)
    dur[0] += 1
    return TtsExample(uid, "t", rng.integers(1, 60, n_tok), mel=rng.normal(size=(int(dur.sum()), 80)).astype(np.float32),
                      durations=dur, pitch=rng.normal(size=n_tok).astype(np.float32),
                      energy=rng.normal(size=n_tok).astype(np.float32))


def test_dataset_normalizes_and_collate_pads():
    rng = np.random.default_rng(0)
    exs = [_example("a", 7, rng), _example("b", 12, rng)]
    mean, std = np.full(80, 1.0, np.float32), np.full(80, 2.0, np.float32)
    ds = TtsDataset(exs, mean, std)
    assert torch.allclose(ds[0]["mel"], (torch.from_numpy(exs[0].mel) - 1.0) / 2.0)
    b = collate_tts([ds[0], ds[1]])
    assert b.phonemes.shape == (2, 12) and b.phoneme_lens.tolist() == [7, 12]
    assert b.mels.shape == (2, max(e.mel.shape[0] for e in exs), 80)
    assert b.mel_lens.tolist() == [e.mel.shape[0] for e in exs] == b.durations.sum(1).tolist()
    bad = _example("c", 5, rng)
    bad.durations = bad.durations + 1
    with pytest.raises(ValueError, match="utterance 'c': durations sum"):
        TtsDataset([bad], mean, std)


def test_fastspeech2_task_learns_a_batch():
    from speech.losses.tts import FastSpeech2Loss
    from speech.models.tts import fastspeech2
    from speech.train.tts import FastSpeech2Task

    rng = np.random.default_rng(1)
    ds = TtsDataset([_example(str(i), 9, rng) for i in range(4)], np.zeros(80, np.float32), np.ones(80, np.float32))
    batch = collate_tts([ds[i] for i in range(4)])
    torch.manual_seed(0)
    model = fastspeech2(75, 80, hidden_size=32, variance_hidden=32, encoder_layers=1, decoder_layers=1)
    task = FastSpeech2Task(FastSpeech2Loss())
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    losses = []
    for _ in range(20):
        out = task.training_step(model, batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"].detach()))
    assert set(out) >= {"loss", "mel", "duration", "pitch", "energy"}
    assert losses[-1] < 0.8 * losses[0]
    model.eval()
    sums = task.validation_step(model, batch)
    metrics = task.validation_metrics(sums)
    assert metrics["mel"] == pytest.approx(sums["mel_sum"] / 4) and task.monitor in metrics


@pytest.fixture(scope="module")
def random_voice(tmp_path_factory):
    from speech.models.tts import fastspeech2

    tok = PhonemeTokenizer()
    torch.manual_seed(0)
    cfg = {"_target_": "speech.models.tts.fastspeech2", "hidden_size": 32, "variance_hidden": 32,
           "encoder_layers": 1, "decoder_layers": 1}
    model = fastspeech2(len(tok), 80, **{k: v for k, v in cfg.items() if k != "_target_"})
    stats = TargetStats(pitch_mean=5.3, pitch_std=0.2, energy_mean=0.0, energy_std=1.0)
    return save_tts_package(tmp_path_factory.mktemp("voice") / "model", fbank=tts_fbank(), model_cfg=cfg,
                            tokenizer=tok, state=model.state_dict(), stats=stats, mel_mean=np.zeros(80),
                            mel_std=np.ones(80), meta={"steps": 0})


def test_package_round_trip_and_errors(random_voice, tmp_path, tiny_package):
    pkg = load_tts_package(random_voice)
    assert pkg.fbank == tts_fbank() and pkg.sample_rate == 22050 and len(pkg.tokenizer) == 75
    ids = torch.tensor([[5, 6, 7, pkg.tokenizer.eos_id]])
    a = pkg.model(ids, torch.tensor([4]))
    b = load_tts_package(random_voice).model(ids, torch.tensor([4]))
    assert torch.equal(a.mel, b.mel)
    with pytest.raises(PackageError, match="voice package not found"):
        load_tts_package(tmp_path / "nope")
    with pytest.raises(PackageError, match="recognition"):
        load_tts_package(tiny_package)
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(random_voice, broken)
    (broken / "stats.json").write_text(json.dumps({"pitch_mean": 1.0}))
    with pytest.raises(PackageError, match=r"stats.json: malformed"):
        load_tts_package(broken)


def test_long_pieces_cut_at_pauses_then_word_boundaries():
    syms = (["AH0", "B", "<wb>"] * 4 + ["<pau_short>"]) * 10
    spans = _split_long(list(range(len(syms))), syms, 30)
    assert spans[0][0] == 0 and spans[-1][1] == len(syms)
    assert all(b - a <= 30 for a, b in spans)
    assert all(syms[b - 1] == "<pau_short>" for a, b in spans[:-1])  # a pause every 13 tokens: cut there
    nopause = ["AH0", "B", "<wb>"] * 40
    spans = _split_long(list(range(len(nopause))), nopause, 20)
    assert all(nopause[b - 1] == "<wb>" for a, b in spans[:-1]) and all(b - a <= 20 for a, b in spans)


def test_synthesizer_text_handling(random_voice):
    synth = Synthesizer(random_voice, max_tokens=40)
    r = synth.synthesize("Hello ☃ world. This is a test, with a pause.")
    assert r.unknown == ["☃"] and len(r.wav) > 0 and r.sample_rate == 22050
    assert len(r.wav) == sum(int(p["durations"].sum()) for p in r.pieces) * 256
    long_text = " ".join(["the quick brown fox jumps over the lazy dog"] * 25)  # no period: cut at word boundaries
    r = synth.synthesize(long_text)
    assert len(r.pieces) > 5 and all(len(p["ids"]) <= 40 for p in r.pieces)
    for bad in ("", "   ", "?!...", "😀😀"):
        with pytest.raises(ValueError, match="nothing to synthesize"):
            synth.synthesize(bad)
    with pytest.raises(ValueError, match="speed=0"):
        synth.synthesize("hi", speed=0)
    with pytest.raises(ValueError, match="pitch_shift"):
        synth.synthesize("hi", pitch_shift=100)
