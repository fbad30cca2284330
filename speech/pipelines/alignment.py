"""Forced alignment with a trained CTC package: whole manifests (frame labels for CE training)
and single recordings (token and word spans)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from speech.audio import AudioError, info, load
from speech.data.alignments import alignment_tokenizer_path, write_alignments
from speech.data.manifest import read_manifest
from speech.decoding import ctc_greedy_decode
from speech.decoding.align import token_spans, word_spans
from speech.features import log_mel
from speech.kernels.align import align_states, viterbi_align
from speech.packages.asr import AsrPackage, load_asr_package
from speech.runtime.segment import SegmentConfig, segments
from speech.text.normalize import normalize_asr_text

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

    pkg = package if isinstance(package, AsrPackage) else load_asr_package(package, device)
    utts = read_manifest(manifest, normalize=True)  # transcripts normalized like training ones
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
                log.warning("align: skipping %s (%s): %s", u.origin, u.id, str(e).splitlines()[0])
                skipped += 1
                continue
            feats.append(log_mel(torch.from_numpy(wav), pkg.fbank))
            toks.append(torch.tensor(tok, dtype=torch.long))
            ids.append(u.id)
        if feats:
            log_probs, out_lens = pkg.log_probs(feats, device)
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


MAX_ALIGN_SECONDS = 120.0
"""Longer recordings are aligned segment by segment (the Viterbi table grows with T x L)."""


@torch.inference_mode()
def align_log_probs(pkg: AsrPackage, log_probs: torch.Tensor, text: str, offset: float = 0.0):
    """Token and word spans of ``text`` in one utterance's log-probs (T, V); times offset by ``offset`` s.

    Returns (word spans, token spans); raises ValueError if the text cannot be aligned (too long
    for the audio, or characters outside the vocabulary, named in the message).
    """

    tok = pkg.tokenizer.encode(text)
    if not tok:
        return [], []
    states, scores = align_states(log_probs.unsqueeze(1).float().cpu(), torch.tensor([tok]),
                                  torch.tensor([log_probs.shape[0]]), torch.tensor([len(tok)]),
                                  blank=pkg.tokenizer.blank_id)
    if not torch.isfinite(scores[0]):
        raise ValueError(f"cannot align {len(tok)} tokens to {log_probs.shape[0]} frames: the text is too long "
                         "for the audio")
    vocab = pkg.tokenizer.vocab
    toks = token_spans(states[0], log_probs, tok, vocab, frame_seconds(pkg), offset)
    words = word_spans(toks, [vocab[t] for t in tok], space_symbol=pkg.tokenizer.SPACE)
    return words, [t for t in toks if t.label != pkg.tokenizer.SPACE]


@torch.inference_mode()
def align_audio(package: str | Path | AsrPackage, audio: str | Path, text: str, device: str = "cpu",
                segment=None):
    """Align a transcript to a recording -> (word spans, token spans, duration seconds).

    Recordings longer than :data:`MAX_ALIGN_SECONDS` go through :func:`align_long_audio` (cut as
    ``segment``, a :class:`~speech.runtime.segment.SegmentConfig`, says)."""

    pkg = package if isinstance(package, AsrPackage) else load_asr_package(package, device)
    duration = info(audio).duration
    if duration > MAX_ALIGN_SECONDS:
        return align_long_audio(pkg, audio, text, device, segment)
    wav, _ = load(audio, pkg.sample_rate)
    feats = log_mel(torch.from_numpy(wav), pkg.fbank).unsqueeze(0).to(device)
    log_probs, lens = pkg.model(feats, torch.tensor([feats.shape[1]], device=device))
    words, tokens = align_log_probs(pkg, log_probs[0, : int(lens[0])].cpu(), normalize_asr_text(text))
    return words, tokens, duration


def word_alignment(ref: list[str], hyp: list[str]) -> list[int]:
    """For each reference word, the index of the hypothesis word it is matched or substituted with in
    a minimum-edit alignment, or -1 when it is deleted (no hypothesis word). Rows are vectorized with
    numpy, so long transcripts (thousands of words) align in seconds."""
    n, m = len(ref), len(hyp)
    if n == 0:
        return []
    if m == 0:
        return [-1] * n
    vocab = {w: i for i, w in enumerate(set(ref) | set(hyp))}
    r = np.array([vocab[w] for w in ref])
    h = np.array([vocab[w] for w in hyp])
    cols = np.arange(m + 1)
    prev = cols.astype(np.int32)
    back = np.zeros((n + 1, m + 1), dtype=np.int8)  # 0 diagonal, 1 up (deletion), 2 left (insertion)
    back[0, 1:] = 2
    for i in range(1, n + 1):
        diag = prev[:-1] + (h != r[i - 1])
        up = prev[1:] + 1
        cand = np.empty(m + 1, dtype=np.int32)
        cand[0] = prev[0] + 1
        cand[1:] = np.minimum(diag, up)
        choice = np.zeros(m + 1, dtype=np.int8)
        choice[0] = 1
        choice[1:] = np.where(diag <= up, 0, 1)
        # insertions run along the row: cur[j] = min_k<=j cand[k] + (j - k)
        best = np.minimum.accumulate(cand - cols) + cols
        choice[best < cand] = 2
        back[i] = choice
        prev = best.astype(np.int32)
    out = [-1] * n
    i, j = n, m
    while i > 0:
        c = back[i, j] if j > 0 else 1
        if c == 0:
            out[i - 1] = j - 1
            i, j = i - 1, j - 1
        elif c == 1:
            i -= 1
        else:
            j -= 1
    return out


@torch.inference_mode()
def align_long_audio(package: str | Path | AsrPackage, audio: str | Path, text: str, device: str = "cpu",
                     segment=None):
    """Align a transcript to a recording of any length, one segment at a time.

    The recording is cut at pauses (:mod:`speech.runtime.segment`); each segment is decoded
    greedily, the decoded words are matched to the transcript with a minimum-edit alignment, which
    splits the transcript at the segment boundaries; then each segment is force-aligned with its
    share of the text. Returns (word spans, token spans, duration).
    """

    pkg = package if isinstance(package, AsrPackage) else load_asr_package(package, device)
    ref = normalize_asr_text(text).split()
    pieces, hyp, owner = [], [], []
    for start, wav in segments(audio, pkg.sample_rate, segment or SegmentConfig()):
        feats = log_mel(torch.from_numpy(wav), pkg.fbank).unsqueeze(0).to(device)
        lp, lens = pkg.model(feats, torch.tensor([feats.shape[1]], device=device))
        lp = lp[0, : int(lens[0])].cpu()

        words = pkg.tokenizer.decode(ctc_greedy_decode(lp.unsqueeze(0), torch.tensor([lp.shape[0]]),
                                                       blank=pkg.tokenizer.blank_id)[0]).split()
        hyp += words
        owner += [len(pieces)] * len(words)
        pieces.append((start, lp, len(wav) / pkg.sample_rate))
    match = word_alignment(ref, hyp)
    # each transcript word goes to the segment of its matched hypothesis word; unmatched words
    # follow the previous word (or the first segment)
    seg_of, last = [], 0
    for j in match:
        last = owner[j] if j >= 0 else last
        seg_of.append(last)
    for k in range(1, len(seg_of)):  # keep the split monotonic
        seg_of[k] = max(seg_of[k], seg_of[k - 1])
    words_out, tokens_out = [], []
    for k, (start, lp, _) in enumerate(pieces):
        seg_text = " ".join(w for w, s in zip(ref, seg_of) if s == k)
        if seg_text:
            w, t = align_log_probs(pkg, lp, seg_text, offset=start)
            words_out += w
            tokens_out += t

    return words_out, tokens_out, info(audio).duration
