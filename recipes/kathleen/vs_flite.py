#!/usr/bin/env python
"""Our voice next to CMU Flite's ``slt`` on the same texts, one recognizer, one run.

    python recipes/kathleen/vs_flite.py                       # the bundled voice `kathleen`
    python recipes/kathleen/vs_flite.py --model exp/kathleen/model --flite-voice slt

Two sets of texts, each read by every system and transcribed by PocketSphinx
(speech.pipelines.intelligibility):

* ``outside``: the LJSpeech clips in $SPEECH_DATA/LJSpeech-subset (49 sentences of 19th-century
  non-fiction; none is an ARCTIC prompt, so neither voice trained on them). Systems read the raw
  text (numbers, abbreviations); the reference is LJSpeech's normalized column; the LJSpeech
  recordings (another speaker) are scored too, as the recognizer's ceiling on real speech.
* ``heldout``: the voice's held-out Kathleen prompts (its ``test_ids``), with Kathleen's own takes
  as the recordings row.

Writes ``<out>/<set>/intelligibility.{json,md}`` and every waveform under ``<out>/<set>/wavs/``, and
prints the tables. Needs flite (``apt-get install flite``) and the eval extra (PocketSphinx).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def default_data() -> Path:
    return Path(os.environ.get("SPEECH_DATA") or REPO.parent / "shared" / "data")


def outside_items(root: Path, limit: int | None = None):
    """The LJSpeech clips of ``root`` (metadata.csv + wavs/) as TextItems: raw text to read, normalized text to score."""
    from speech.data.prepare.ljspeech import read_ljspeech_metadata
    from speech.pipelines.intelligibility import TextItem

    meta = root / "metadata.csv"
    if not meta.is_file():
        raise FileNotFoundError(f"{meta}: not found; expected an LJSpeech folder (metadata.csv + wavs/)")
    rows, problems = read_ljspeech_metadata(meta)
    if problems:
        raise ValueError(problems[0])
    items = []
    for row in rows:
        wav = root / "wavs" / f"{row.id}.wav"
        if row.raw.strip() and wav.is_file():
            items.append(TextItem(row.id, row.raw.strip(), row.text.strip(), str(wav)))
    return items[:limit] if limit else items


def heldout_items(pkg, limit: int | None = None):
    """The voice's held-out prompts (meta.json test_ids) with the corpus's own takes."""
    from speech.data.prepare.tts_corpus import read_tts_corpus
    from speech.pipelines.intelligibility import TextItem

    corpus = pkg.meta.get("corpus")
    ids = pkg.meta.get("test_ids") or []
    if not corpus or not ids:
        raise ValueError(f"{pkg.path}: meta.json names no corpus or no test_ids; the heldout set needs both")
    by_id = {u.id: u for u in read_tts_corpus(corpus)}
    items = [TextItem(i, by_id[i].text, by_id[i].text, by_id[i].audio) for i in ids if i in by_id]
    return items[:limit] if limit else items


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="kathleen", help="voice package folder or bundled voice name")
    ap.add_argument("--vocoder", default="griffin-lim", help="griffin-lim or a vocoder package folder")
    ap.add_argument("--data", type=Path, default=default_data(), help="data root holding LJSpeech-subset/")
    ap.add_argument("--sets", nargs="+", choices=("outside", "heldout"), default=["outside", "heldout"])
    ap.add_argument("--flite-voice", default="slt")
    ap.add_argument("--limit", type=int, default=None, help="at most this many texts per set")
    ap.add_argument("--plain-row", action=argparse.BooleanOptionalAction, default=True,
                    help="when the voice sets a synthesis post-filter (meta.json synthesis), also score it with "
                         "the post-filter off (mel contrast 1, Griffin-Lim power 1)")
    ap.add_argument("--out", type=Path, default=REPO / "exp" / "vs_flite")
    args = ap.parse_args(argv)

    from speech.models.vocoders.griffin_lim import GriffinLimVocoder
    from speech.packages.registry import resolve_model
    from speech.pipelines.evaluate_tts import PocketSphinxRecognizer
    from speech.pipelines.intelligibility import (FliteSystem, RecordingSystem, VoiceSystem,
                                                  compare_intelligibility, format_table)
    from speech.pipelines.synthesizer import Synthesizer
    from speech.recipes.common import machine_line

    voice = f"speech {Path(str(args.model)).name}"
    synth = Synthesizer(resolve_model(args.model, "voice"), vocoder=args.vocoder)
    gl = isinstance(synth.vocoder, GriffinLimVocoder)
    filtered = synth.mel_contrast != 1.0 or (gl and synth.vocoder.power != 1.0)
    systems = [RecordingSystem()]
    if args.plain_row and filtered:
        label = f"mel contrast {synth.mel_contrast:g}" + (f", Griffin-Lim power {synth.vocoder.power:g}" if gl else "")
        plain = Synthesizer(synth.package, vocoder=GriffinLimVocoder(synth.package.fbank) if gl else synth.vocoder,
                            mel_contrast=1.0)
        systems += [VoiceSystem(synth, f"{voice} ({label})"), VoiceSystem(plain, f"{voice}, post-filter off")]
    else:
        systems.append(VoiceSystem(synth, voice))
    systems.append(FliteSystem(args.flite_voice))
    recognizer = PocketSphinxRecognizer()
    for set_name in args.sets:
        items = (outside_items(args.data / "LJSpeech-subset", args.limit) if set_name == "outside"
                 else heldout_items(synth.package, args.limit))
        if not items:
            print(f"vs_flite: the {set_name} set is empty", file=sys.stderr)
            return 2
        result = compare_intelligibility(items, systems, recognizer, out_dir=args.out / set_name)
        print(f"\n{set_name}: {result['sentences']} sentences, {result['reference_words']} words; "
              f"recognizer {result['recognizer']}; vocoder {args.vocoder}; {machine_line()}")
        print(format_table(result))
    return 0


if __name__ == "__main__":
    from speech.cli.errors import guarded_main  # one line per error (SPEECH_DEBUG=1: traceback)

    sys.exit(guarded_main(main))
