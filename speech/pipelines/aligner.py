"""Forced alignment with a trained CTC package: whole manifests (frame labels for CE training)
and single recordings (token and word spans)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from speech.audio import AudioError, load
from speech.data.alignments import alignment_tokenizer_path, write_alignments
from speech.data.manifest import read_manifest
from speech.features import log_mel
from speech.pipelines.package import AsrPackage, load_asr_package

log = logging.getLogger(__name__)


def frame_seconds(pkg: AsrPackage) -> float:
    """Duration of one model output frame."""
    return pkg.fbank.hop_length * pkg.model.time_reduction / pkg.fbank.sample_rate


@torch.inference_mode()
def align_manifest(package: str | Path | AsrPackage, manifest: str | Path, out: str | Path, batch_size: int = 16,
                   device: str = "cpu", progress: bool = True) -> dict:
    """Viterbi-align every utterance of ``manifest`` to its transcript with a CTC package.

    Writes frame labels (the symbol per output frame, blank included) to ``out`` (JSON lines,
    see :mod:`speech.data.alignments`) and the package's vocabulary beside it. Utterances whose
    audio cannot be read, whose text has characters outside the vocabulary, or that are too
    short for their transcript are reported and skipped. Returns counts.
    """
    from speech.kernels.align import viterbi_align

    pkg = package if isinstance(package, AsrPackage) else load_asr_package(package, device)
    utts = read_manifest(manifest)
    results: list[tuple[str, np.ndarray]] = []
    skipped = 0
    bar = tqdm(total=len(utts), unit="utt", desc="aligning", disable=not progress)
    for s in range(0, len(utts), batch_size):
        chunk = utts[s:s + batch_size]
        feats, toks, ids = [], [], []
        for u in chunk:
            try:
                wav, _ = load(u.audio, pkg.sample_rate, start=u.start, end=u.end)
                tok = pkg.tokenizer.encode(u.text, u.id)
            except (AudioError, ValueError) as e:
                log.warning("align: skipping %s: %s", u.id, str(e).splitlines()[0])
                skipped += 1
                continue
            feats.append(log_mel(torch.from_numpy(wav), pkg.fbank))
            toks.append(torch.tensor(tok, dtype=torch.long))
            ids.append(u.id)
        if feats:
            x = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True).to(device)
            lens = torch.tensor([f.shape[0] for f in feats], device=device)
            log_probs, out_lens = pkg.model(x, lens)
            tgt_lens = torch.tensor([t.numel() for t in toks])
            targets = torch.nn.utils.rnn.pad_sequence(toks, batch_first=True) if len(toks) else torch.zeros(0, 0)
            paths, scores = viterbi_align(log_probs.transpose(0, 1).float(), targets, out_lens.cpu(), tgt_lens,
                                          blank=pkg.tokenizer.blank_id)
            for i, uid in enumerate(ids):
                if not torch.isfinite(scores[i]):
                    log.warning("align: skipping %s: %d frames cannot hold its %d labels", uid, int(out_lens[i]),
                                int(tgt_lens[i]))
                    skipped += 1
                    continue
                results.append((uid, paths[i, : int(out_lens[i])].cpu().numpy()))
        bar.update(len(chunk))
    bar.close()
    write_alignments(out, results)
    pkg.tokenizer.save(alignment_tokenizer_path(out))
    return {"aligned": len(results), "skipped": skipped, "out": str(out)}
