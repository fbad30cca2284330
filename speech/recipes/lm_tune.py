"""Choose the LM weight and word bonus of beam search on a dev set, never on the test set.

The acoustic model runs once per dev utterance; every (weight, bonus) pair then only re-runs the
prefix beam search over the stored log-probs, so an N-point grid costs N searches, not N passes of
the network. Ties go to the smaller weight, then the smaller bonus.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

log = logging.getLogger(__name__)


@dataclass
class TuneResult:
    """The chosen pair and every pair's dev WER (``grid[(weight, bonus)]``)."""

    lm_weight: float
    word_bonus: float
    wer: float
    utterances: int
    grid: dict

    def table(self) -> str:
        """The grid as a markdown table (rows: weights, columns: bonuses), the chosen cell in bold."""
        weights = sorted({w for w, _ in self.grid})
        bonuses = sorted({b for _, b in self.grid})
        lines = ["| LM weight \\ word bonus | " + " | ".join(f"{b:g}" for b in bonuses) + " |",
                 "|---|" + "---|" * len(bonuses)]
        for w in weights:
            cells = []
            for b in bonuses:
                v = f"{100 * self.grid[(w, b)]:.2f}%"
                cells.append(f"**{v}**" if (w, b) == (self.lm_weight, self.word_bonus) else v)
            lines.append(f"| {w:g} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def tune_lm_weights(package: str | Path, manifest: str | Path, lm_path: str | Path, weights: Sequence[float],
                    bonuses: Sequence[float], beam_size: int = 16) -> TuneResult:
    """Dev WER of beam search with ``lm_path`` for every (weight, bonus); the best pair.

    ``manifest``: the dev utterances (JSON lines with audio and text), held out from training and
    from the LM's text.
    """
    from speech.audio.io import load
    from speech.data.manifest import read_manifest
    from speech.decoding.arpa import ArpaLM
    from speech.decoding.beam import BeamSearchConfig, make_decoder
    from speech.decoding.metrics import error_stats
    from speech.pipelines.transcriber import Transcriber, decoding_config

    utts = read_manifest(manifest)
    if not utts:
        raise ValueError(f"{manifest}: no utterances to tune on")
    tr = Transcriber(package, decoding=decoding_config(["decoding=greedy"]))
    outputs = tr.log_probs([load(u.audio, sample_rate=tr.sample_rate)[0] for u in utts])
    lm = ArpaLM.load(str(lm_path))
    refs = [u.text for u in utts]
    base = BeamSearchConfig(beam_size=beam_size)
    grid = {}
    for w in weights:
        for b in bonuses:
            decoder = make_decoder(replace(base, lm_weight=float(w), word_bonus=float(b)), tr.tokenizer, lm=lm)
            hyps = [decoder.decode(lp)[0][0] for lp in outputs]
            grid[(float(w), float(b))] = error_stats(refs, hyps).rate
    (w, b), best = min(grid.items(), key=lambda kv: (round(kv[1], 9), kv[0][0], kv[0][1]))
    log.info("LM weight %.2f, word bonus %.2f: dev WER %.2f%% over %d utterances (grid of %d)", w, b, 100 * best,
             len(utts), len(grid))
    return TuneResult(w, b, best, len(utts), grid)
