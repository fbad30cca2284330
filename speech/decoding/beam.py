"""CTC prefix beam search with an optional word n-gram LM and lexicon.

Each hypothesis is a *prefix*: a label sequence without blanks and with repeats collapsed. For
every prefix the search keeps two natural-log probabilities summed over all alignments of the
frames so far: ``p_b`` (paths ending in a blank) and ``p_nb`` (paths ending in the prefix's last
label). Per frame ``t`` with log-probs ``y``::

    stay:    p_b'(l)    += (p_b + p_nb)(l) + y[blank]
             p_nb'(l)   += p_nb(l) + y[last(l)]                 (a repeat folds into the same label)
    extend:  p_nb'(l+c) += (p_b + p_nb)(l) + y[c]    c != last(l)
             p_nb'(l+c) += p_b(l) + y[c]             c == last(l)  (a repeated letter needs a blank)

Identical prefixes reached from different parents are merged (log-sum-exp). Hypotheses are
ranked by::

    score = ln(p_b + p_nb) + sum over completed words (lm_weight * ln(10) * log10 P_LM(word | history) + word_bonus)

A word is completed when the space symbol follows a non-empty partial word, and at the end of
the utterance for the last word (where ``lm_weight * ln 10 * log10 P(</s> | history)`` is added
too). With a lexicon, a partial word must be a prefix of a lexicon word (a trie walk) and a
completed word must be in it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speech.decoding.arpa import ArpaLM
from speech.decoding.greedy import GreedyCTCDecoder, as_numpy
from speech.ranges import GE1, check_ranges, rule

__all__ = ["BeamSearchConfig", "CTCPrefixBeamSearch", "GreedyTextDecoder", "Lexicon", "load_lexicon", "make_decoder"]

_LN10 = math.log(10.0)
_NEG_INF = float("-inf")


@dataclass
class BeamSearchConfig:
    """Settings of :class:`CTCPrefixBeamSearch` (config group ``decoding/beam``).

    Attributes:
        beam_size: hypotheses kept after every frame.
        lm_weight: weight of the LM log-probability (converted to natural log) per word.
        word_bonus: added per completed word (counters the LM's bias towards few words).
        prune_logp: per frame, only tokens whose log-prob is at least the frame's best plus this
            (a negative number) may extend a prefix; blank / repeat continuations are always kept.
        lexicon: path to a word list (first whitespace-separated field of each line); when given,
            only its words can be produced.
        lm: path to a word n-gram LM in ARPA format (``speech lm``), loaded by :func:`build_decoder`;
            None: no LM (acoustics and word bonus only).
    """

    beam_size: int = 16
    lm_weight: float = 0.5
    word_bonus: float = 1.0
    prune_logp: float = -10.0
    lexicon: str | None = None
    lm: str | None = None

    def __post_init__(self) -> None:
        check_ranges("decoding", self, beam_size=GE1, prune_logp=rule(lambda v: v <= 0, "<= 0"))


class Lexicon:
    """A word set as a character trie: ``is_prefix`` and ``is_word`` walk it one character at a time.

    Nodes are dicts ``char -> child``; the key ``None`` marks the end of a word.
    """

    def __init__(self, words):
        """Build the trie from an iterable of words."""
        self.root: dict = {}
        self.size = 0
        for word in words:
            node = self.root
            for ch in word:
                node = node.setdefault(ch, {})
            if None not in node:
                node[None] = True
                self.size += 1

    def __len__(self) -> int:
        """Number of distinct words."""
        return self.size

    def child(self, node: dict, symbol: str) -> dict | None:
        """The node after reading ``symbol`` (which may span several characters), or None."""
        for ch in symbol:
            node = node.get(ch)
            if node is None:
                return None
        return node

    def __contains__(self, word: str) -> bool:
        """Whether ``word`` is a complete lexicon word."""
        node = self.child(self.root, word)
        return node is not None and None in node


def read_lexicon_words(path: str | Path) -> list[str]:
    """A word list's words: the first whitespace-separated field of each non-empty line."""
    with open(path, encoding="utf-8") as f:
        return [line.split()[0] for line in f if line.strip()]


def load_lexicon(path: str | Path) -> Lexicon:
    """Read a word list (:func:`read_lexicon_words`) as a :class:`Lexicon`."""
    return Lexicon(read_lexicon_words(path))


class _Hyp:
    """A prefix hypothesis: acoustic log-probs plus the word / LM state its text implies."""

    __slots__ = ("pb", "pnb", "lm_score", "lm_state", "word", "node", "last")

    def __init__(self, lm_score, lm_state, word, node, last):
        self.pb = _NEG_INF
        self.pnb = _NEG_INF
        self.lm_score = lm_score  # natural-log LM + word bonuses of completed words
        self.lm_state = lm_state
        self.word = word          # partial word since the last space
        self.node = node          # lexicon trie node of ``word`` (None without lexicon)
        self.last = last          # last label id, -1 for the empty prefix


def _lse(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) for floats, -inf safe."""
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    if a > b:
        return a + math.log1p(math.exp(b - a))
    return b + math.log1p(math.exp(a - b))


class CTCPrefixBeamSearch:
    """CTC prefix beam search over a character vocabulary (see the module docstring).

    Example::

        decoder = CTCPrefixBeamSearch(tokenizer.vocab, lm=ArpaLM.load("lm.arpa"), cfg=BeamSearchConfig())
        texts = decoder(log_probs, lengths)          # (B, T, V), (B,) -> B strings
        nbest = decoder.decode(log_probs[0])          # [(text, score), ...] best first
    """

    def __init__(self, vocab: list[str], lm: ArpaLM | None = None, cfg: BeamSearchConfig | None = None,
                 blank: int = 0, space_symbol: str = "|"):
        """Set up the search.

        Args:
            vocab: id -> symbol (e.g. ``CharTokenizer.vocab``); ``vocab[blank]`` is the blank.
            lm: word LM applied at word ends (None: acoustics + word bonus only).
            cfg: search settings (defaults when None). ``cfg.lexicon`` is read here.
            blank: id of the CTC blank.
            space_symbol: the word separator symbol in ``vocab`` (absent: the whole output is one word).
        """
        self.cfg = cfg or BeamSearchConfig()
        if self.cfg.beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {self.cfg.beam_size}")
        self.vocab = list(vocab)
        self.lm = lm
        self.blank = blank
        self.space = self.vocab.index(space_symbol) if space_symbol in self.vocab else -1
        self.lexicon = load_lexicon(self.cfg.lexicon) if self.cfg.lexicon else None
        self._lm_cache: dict = {}

    # -- word scoring -----------------------------------------------------------------------

    def _word_score(self, state, word: str):
        """(natural-log weighted LM score + word bonus, next LM state) for completing ``word``."""
        if self.lm is None:
            return self.cfg.word_bonus, state
        key = (state, word)
        hit = self._lm_cache.get(key)
        if hit is None:
            if len(self._lm_cache) > 1_000_000:  # bound memory over long runs
                self._lm_cache.clear()
            lp, new_state = self.lm.advance(state, word)
            hit = (self.cfg.lm_weight * _LN10 * lp + self.cfg.word_bonus, new_state)
            self._lm_cache[key] = hit
        return hit

    def _final_score(self, hyp: _Hyp) -> float:
        """Score added at the end: the last partial word and ``</s>``; -inf if the lexicon rejects it."""
        extra, state = 0.0, hyp.lm_state
        if hyp.word:
            if self.lexicon is not None and None not in hyp.node:
                return _NEG_INF
            extra, state = self._word_score(state, hyp.word)
        if self.lm is not None:
            extra += self.cfg.lm_weight * _LN10 * self.lm.final(state)
        return extra

    def _child(self, parent: _Hyp, c: int) -> _Hyp | None:
        """The hypothesis for ``parent`` + label ``c`` (without probabilities), or None if not allowed."""
        if c == self.space:
            if not parent.word:  # a space after a space / at the start completes no word
                return _Hyp(parent.lm_score, parent.lm_state, "", parent.node, c)
            if self.lexicon is not None and None not in parent.node:
                return None
            add, state = self._word_score(parent.lm_state, parent.word)
            return _Hyp(parent.lm_score + add, state, "", self.lexicon.root if self.lexicon else None, c)
        sym = self.vocab[c]
        node = None
        if self.lexicon is not None:
            node = self.lexicon.child(parent.node, sym)
            if node is None:
                return None
        return _Hyp(parent.lm_score, parent.lm_state, parent.word + sym, node, c)

    # -- search -----------------------------------------------------------------------------

    def decode(self, log_probs, length: int | None = None) -> list[tuple[str, float]]:
        """N-best texts for one utterance.

        Args:
            log_probs: (T, V) log-probabilities (natural log) of the acoustic model.
            length: valid frames (default T).

        Returns:
            Up to ``beam_size`` pairs (text, total score), best first, distinct texts (words joined by
            single spaces). The score is the acoustic log-probability of the prefix plus the LM and
            word-bonus terms. With a lexicon, hypotheses whose last word is not a word are dropped
            (the empty text always qualifies); if none is left the result is ``[("", -inf)]``.
        """
        lp = as_numpy(log_probs).astype(np.float64)
        if lp.ndim != 2:
            raise ValueError(f"expected log_probs of shape (T, V), got {tuple(lp.shape)}")
        if lp.shape[0] and lp.shape[1] != len(self.vocab):
            raise ValueError(f"log_probs has {lp.shape[1]} classes but the vocabulary has {len(self.vocab)}")
        t_max = lp.shape[0] if length is None else max(0, min(int(length), lp.shape[0]))
        cfg = self.cfg
        root = self.lexicon.root if self.lexicon is not None else None
        init_state = self.lm.initial_state() if self.lm is not None else ()
        start = _Hyp(0.0, init_state, "", root, -1)
        start.pb = 0.0
        beams: dict[tuple, _Hyp] = {(): start}
        nonblank = np.ones(lp.shape[1], dtype=bool)
        if lp.shape[1]:
            nonblank[self.blank] = False

        for t in range(t_max):
            y = lp[t]
            toks = np.nonzero((y >= y.max() + cfg.prune_logp) & nonblank)[0]
            prefixes = list(beams)
            hyps = [beams[p] for p in prefixes]
            pb = np.array([h.pb for h in hyps])
            pnb = np.array([h.pnb for h in hyps])
            last = np.array([h.last for h in hyps])
            total = np.logaddexp(pb, pnb)
            # (B, K) extension scores: from the total, or from p_b alone for a repeated label
            ext = np.where(last[:, None] == toks[None, :], pb[:, None], total[:, None]) + y[toks][None, :]
            nxt: dict[tuple, _Hyp] = {}
            # stay on the same prefix (blank or repeat of its last label)
            stay_b = total + y[self.blank]
            for i, (pre, h) in enumerate(zip(prefixes, hyps)):
                new = _Hyp(h.lm_score, h.lm_state, h.word, h.node, h.last)
                new.pb = stay_b[i]
                if h.last >= 0:
                    new.pnb = h.pnb + y[h.last]
                nxt[pre] = new
            rows, cols = np.nonzero(ext > _NEG_INF)
            for i, k in zip(rows.tolist(), cols.tolist()):
                c = int(toks[k])
                pre = prefixes[i] + (c,)
                new = nxt.get(pre)
                if new is None:
                    new = self._child(hyps[i], c)
                    if new is None:
                        continue
                    nxt[pre] = new
                new.pnb = _lse(new.pnb, float(ext[i, k]))
            ranked = sorted(nxt.items(), key=lambda kv: _lse(kv[1].pb, kv[1].pnb) + kv[1].lm_score, reverse=True)
            beams = dict(ranked[:cfg.beam_size])

        results: dict[str, float] = {}
        for pre, h in beams.items():
            score = _lse(h.pb, h.pnb) + h.lm_score + self._final_score(h)
            if score == _NEG_INF:
                continue
            text = self._text(pre)
            if score > results.get(text, _NEG_INF):
                results[text] = float(score)
        if not results:
            return [("", _NEG_INF)]
        return sorted(results.items(), key=lambda kv: kv[1], reverse=True)

    def _text(self, prefix: tuple) -> str:
        """Label ids -> text with single spaces between words."""
        chars = [" " if c == self.space else self.vocab[c] for c in prefix]
        return " ".join("".join(chars).split())

    def __call__(self, log_probs, lengths=None) -> list[str]:
        """Best text per utterance for (B, T, V) log-probs and (B,) valid lengths (torch or numpy)."""
        if len(log_probs.shape) != 3:
            raise ValueError(f"expected log_probs of shape (B, T, V), got {tuple(log_probs.shape)}")
        b, t, _ = log_probs.shape
        lens = [t] * b if lengths is None else [int(x) for x in lengths]
        return [self.decode(log_probs[i], lens[i])[0][0] for i in range(b)]


class GreedyTextDecoder:
    """Best-path CTC decoding to text: ``decoder(log_probs (B, T, V), lengths (B,)) -> B strings``."""

    def __init__(self, greedy: GreedyCTCDecoder, tokenizer):
        self.greedy = greedy
        self.tokenizer = tokenizer

    def __call__(self, log_probs, lengths) -> list[str]:
        return [self.tokenizer.decode(ids) for ids in self.greedy(log_probs, lengths)]


def _existing(key: str, path, what: str) -> str:
    if not Path(str(path)).is_file():
        raise FileNotFoundError(f"{key}: {path}: not found; expected {what}")
    return str(path)


def make_decoder(built: BeamSearchConfig | GreedyCTCDecoder, tokenizer, lm: ArpaLM | None = None):
    """The decoder for built settings: a :class:`GreedyTextDecoder` or a :class:`CTCPrefixBeamSearch`
    (loading ``built.lm`` unless ``lm`` is given). Config nodes go through
    :func:`speech.decoding.build.build_decoder`, which builds the settings and calls this.

    Raises:
        ValueError / FileNotFoundError: one line naming the ``decoding.*`` key.
    """
    if isinstance(built, GreedyCTCDecoder):
        if built.blank != tokenizer.blank_id:
            raise ValueError(f"decoding.blank: {built.blank}, but the model's blank token has id {tokenizer.blank_id}; "
                             f"expected {tokenizer.blank_id}")
        if lm is not None:
            raise ValueError("decoding=greedy cannot use a language model; expected decoding=beam with decoding.lm")
        return GreedyTextDecoder(built, tokenizer)
    if not isinstance(built, BeamSearchConfig):
        raise ValueError(f"decoding: {type(built).__name__} is not a decoder this toolkit builds; expected "
                         "decoding=greedy or decoding=beam")
    if built.lexicon:
        _existing("decoding.lexicon", built.lexicon, "a word list, one word a line")
    if lm is None and built.lm:
        lm = ArpaLM.load(_existing("decoding.lm", built.lm, "a word n-gram LM in ARPA format (speech lm)"))
    return CTCPrefixBeamSearch(tokenizer.vocab, lm=lm, cfg=built, blank=tokenizer.blank_id)
