"""The decoding config group drives the Transcriber, evaluation and the command line: conf/decoding/*.yaml
holds the defaults, command-line words (decoding=beam decoding.beam_size=8) and the shortcut options
(--beam-size, --lm, ...) override it, and speech.decoding.build.build_decoder makes the decoder."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from omegaconf import OmegaConf

from speech.cli.asr import decoding_from_args, split_decoding_overrides
from speech.cli.main import main
from speech.cli.parser import parse_args
from speech.config import ConfigError, config_root
from speech.decoding import GreedyCTCDecoder, ctc_greedy_decode
from speech.decoding.beam import BeamSearchConfig, CTCPrefixBeamSearch, GreedyTextDecoder
from speech.decoding.build import build_decoder
from speech.pipelines.transcriber import Transcriber, decoding_config
from speech.text.tokenizer import CharTokenizer

BEAM_YAML = OmegaConf.load(config_root() / "decoding" / "beam.yaml")
TOKENIZER = CharTokenizer.build(["zero one two three"])


def _decoding(*argv: str):
    """The decoding config of ``speech transcribe x.wav --model m ARGV``."""
    args = parse_args(["transcribe", "x.wav", "--model", "m", *argv])
    return decoding_from_args(args, split_decoding_overrides(args.paths)[1])


def test_defaults_come_from_the_yaml():
    beam = decoding_config(["decoding=beam"])
    for key in ("beam_size", "lm_weight", "word_bonus", "prune_logp", "lexicon", "lm"):
        assert beam[key] == BEAM_YAML[key], key
    assert decoding_config()["_target_"].endswith("GreedyCTCDecoder")  # the default group option


def test_no_option_leaves_it_to_the_package_and_any_shortcut_selects_beam_with_yaml_defaults(tmp_path):
    assert _decoding() is None  # the package's recommended decoding, else greedy
    lm = decoding_config(["decoding=beam"], lm="digits.arpa")
    got = _decoding("--lm", "digits.arpa")
    assert got == lm and got.beam_size == BEAM_YAML.beam_size  # not a width of 1 from a flag default
    got = _decoding("--beam-size", "3", "--word-bonus", "2.5")
    assert (got.beam_size, got.word_bonus, got.lm_weight) == (3, 2.5, BEAM_YAML.lm_weight)


def test_words_on_the_command_line_override_the_config():
    args = parse_args(["transcribe", "a.wav", "decoding=beam", "--model", "m", "decoding.beam_size=8", "b.wav",
                       "--lm-weight", "0.25"])
    paths, overrides = split_decoding_overrides(args.paths)
    assert paths == ["a.wav", "b.wav"] and overrides == ["decoding=beam", "decoding.beam_size=8"]
    cfg = decoding_from_args(args, overrides)
    assert (cfg.beam_size, cfg.lm_weight, cfg.word_bonus) == (8, 0.25, BEAM_YAML.word_bonus)


def test_an_existing_file_named_like_an_override_is_an_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "decoding=beam").write_bytes(b"")
    assert split_decoding_overrides(["decoding=beam"]) == (["decoding=beam"], [])


@pytest.mark.parametrize("overrides, values, words", [
    (["decoding=beam", "decoding.beam_sise=3"], {}, "decoding.beam_sise: no such key; did you mean decoding.beam_size?"),
    (["decoding=greedy"], {"lm_weight": 0.3}, "decoding.lm_weight: no such key"),
    (["decoding=beam"], {"prune_logp": 1.0}, "decoding.prune_logp: 1.0 is out of range"),
])
def test_bad_decoding_settings_are_one_line_naming_the_key(overrides, values, words):
    with pytest.raises(ConfigError, match=words.replace("?", r"\?")) as e:
        decoding_config(overrides, **values)
    assert "\n" not in str(e.value)


def test_build_decoder_greedy_and_beam(tmp_path):
    greedy = build_decoder(decoding_config(), TOKENIZER)
    assert isinstance(greedy, GreedyTextDecoder)
    log_probs = torch.randn(2, 30, len(TOKENIZER)).log_softmax(-1)
    lens = torch.tensor([30, 21])
    assert greedy(log_probs, lens) == [TOKENIZER.decode(i) for i in ctc_greedy_decode(log_probs, lens)]

    lex = tmp_path / "words.txt"
    lex.write_text("one\ntwo\n")
    beam = build_decoder(decoding_config(["decoding=beam", "decoding.beam_size=4"], lexicon=str(lex)), TOKENIZER)
    assert isinstance(beam, CTCPrefixBeamSearch) and beam.cfg.beam_size == 4 and len(beam.lexicon) == 2
    assert all(set(t.split()) <= {"one", "two"} for t in beam(log_probs, lens))
    assert isinstance(build_decoder(BeamSearchConfig(beam_size=2), TOKENIZER), CTCPrefixBeamSearch)


def test_build_decoder_errors_name_the_key(tmp_path):
    with pytest.raises(FileNotFoundError, match="decoding.lm: .*nowhere.arpa: not found"):
        build_decoder(decoding_config(["decoding=beam"], lm=str(tmp_path / "nowhere.arpa")), TOKENIZER)
    with pytest.raises(FileNotFoundError, match="decoding.lexicon: "):
        build_decoder(decoding_config(["decoding=beam"], lexicon=str(tmp_path / "none.txt")), TOKENIZER)
    with pytest.raises(ValueError, match="decoding.blank: 3, but the model's blank token has id 0"):
        build_decoder(GreedyCTCDecoder(blank=3), TOKENIZER)


def test_transcriber_and_command_decode_as_the_config_says(tiny_package, tmp_path, capsys):
    wav = tmp_path / "a.wav"
    sf.write(wav, 0.1 * np.random.default_rng(0).standard_normal(8000).astype(np.float32), 8000)
    tr = Transcriber(tiny_package, decoding=decoding_config(["decoding=beam", "decoding.beam_size=3"]))
    assert isinstance(tr.decoder, CTCPrefixBeamSearch) and tr.decoder.cfg.beam_size == 3
    expected = tr.transcribe_file(wav).text
    assert main(["transcribe", str(wav), "--model", str(tiny_package), "decoding=beam", "decoding.beam_size=3",
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == expected
    assert main(["transcribe", str(wav), "--model", str(tiny_package), "decoding.beam_sise=3"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "decoding.beam_sise: no such key" in err[0], err
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"id": "a", "audio": str(wav), "text": "one", "duration": 1.0}) + "\n")
    assert main(["evaluate", str(manifest), "decoding=beam", "decoding.beam_size=3", "--model", str(tiny_package),
                 "--quiet", "--output", str(tmp_path / "hyps.jsonl")]) == 0
    assert json.loads((tmp_path / "hyps.jsonl").read_text())["hyp"] == expected
