"""Grapheme-to-phoneme conversion for speech synthesis: normalized text -> ARPAbet tokens.

:class:`G2P` reads the output of :func:`speech.text.tts_normalize.normalize_for_tts`::

    >>> g2p = G2P()
    >>> g2p("mister lee, hello.")
    ['M', 'IH1', 'S', 'T', 'ER0', '<wb>', 'L', 'IY1', '<pau_short>', 'HH', 'AH0', 'L', 'OW1', '<pau_long>']

Tokens are ARPAbet phonemes with CMUdict's stress digits (``AH0``, ``EY1``), ``<wb>`` between two
words, and a pause token in place of the boundary where the text has punctuation: "," ->
``<pau_short>``, ";" ":" "-" -> ``<pau_mid>``, "." "?" "!" -> ``<pau_long>`` (see
:mod:`speech.text.phonemes`). Word pronunciations come from, in order:

1. the CMU Pronouncing Dictionary (``cmudict`` package, first pronunciation of the lower-cased
   word) plus the few readings the normalizer emits that it lacks ("miz", "gigahertz"); single CAPITAL letters
   are read by their names (``B`` -> ``B IY1``), possessives / plurals with an apostrophe
   ("lee's", "M's") get the right /s/, /z/ or /ɪz/ ending, hyphenated words are split;
2. otherwise a guess - never dropped: the neural fallback (:class:`G2PNet`, a letter -> phoneme
   BiLSTM-CTC trained on CMUdict by :func:`train_g2p`; both in :mod:`speech.text.g2p_neural`
   and importable from here) when its weights are available, else a
   deterministic English letter-to-sound rule table (:func:`rule_g2p`). Guessed words are listed
   in :attr:`G2PResult.guessed` with their source ("neural" / "rules") so a CLI can print them.

The neural weights ship with the toolkit (the bundled model ``g2p``, ``speech/pretrained/g2p``: a
folder of ``config.json`` + ``model.safetensors`` made by ``python recipes/g2p/run.py --export-bundled``);
``$SPEECH_G2P_MODEL`` (a file or such a folder) or a model trained into ``~/.cache/speech/g2p_ctc.pt``
(``python -m speech.text.g2p train ~/.cache/speech/g2p_ctc.pt``) takes its place. A file there that cannot be
loaded (empty, truncated, not a G2P checkpoint) is reported once per process as a
``RuntimeWarning`` naming it, and the rule table guesses instead; a file passed explicitly
(``G2P(fallback=path)``) raises.

Measured here (2 CPU cores shared with another training job, torch 2.11, one thread):

- neural fallback, ``python -m speech.text.g2p train /tmp/g2p_ctc.pt`` (defaults: 3 epochs, BiLSTM
  2 x 128 per direction, embeddings 64, letters up-sampled x2, batch 256, seed 0; 122,403
  training words; 2,499 held-out words = 2 % of CMUdict's plain words): 433 s of training
  (~145 s per epoch), 2.4 MB of weights. Held-out PER 12.3 %, WER 48.1 % (46.9 % when any
  CMUdict variant counts) with stress digits; without stress PER 9.8 %, WER 41.9 %. Longer or
  wider training was not tried here (CPU time); ``torch.set_num_threads(2)`` on the busy machine
  was ~20x slower than one thread, hence ``threads=1`` by default;
- rule table on the same words (``python -m speech.text.g2p eval-rules``): PER 30.1 %, WER
  80.0 % with stress; PER 25.6 %, WER 76.2 % without;
- normalization + G2P of the five acceptance sentences: ~2 ms in all (after CMUdict is ready,
  ~13 ms from its compiled cache (:func:`speech.text.lexicon.cmu_dict`; the first run on a machine
  compiles it, ~0.9 s), and the model load, ~10 ms); one neural guess ~2 ms.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from speech.pretrained import pretrained_path
from speech.text.g2p_neural import (
    DEFAULT_MODEL_PATH,
    G2PNet,
    cmudict_split,
    evaluate_g2p,
    load_g2p_model,
    train_g2p,
)
from speech.text.lexicon import LETTER_NAMES, cmu_dict
from speech.text.phonemes import PUNCT_TO_PAUSE, VOWELS, WB
from speech.text.tts_normalize import normalize_for_tts

__all__ = ["DEFAULT_MODEL_PATH", "G2P", "G2PNet", "G2PResult", "WordPronunciation", "cmudict_split", "default_g2p",
           "evaluate_g2p", "load_g2p_model", "rule_g2p", "train_g2p"]

_EXTRA_LEXICON = {"miz": "M IH1 Z", "kilohertz": "K IH1 L AH0 HH ER0 T S", "gigahertz": "G IH1 G AH0 HH ER0 T S"}
_DIGIT_WORDS = "zero one two three four five six seven eight nine".split()
_SIBILANTS = {"S", "Z", "SH", "ZH", "CH", "JH"}
_VOICELESS = {"P", "T", "K", "F", "TH"}


# ---------------------------------------------------------------------------------------------
# Letter-to-sound rules (last resort)

_RULES_INITIAL = {"kn": "N", "wr": "R", "ps": "S", "gn": "N", "pn": "N", "wh": "W", "x": "Z", "y": "Y"}
_RULES = {
    "tion": "SH AH N", "sion": "ZH AH N", "ough": "AO", "augh": "AO", "eigh": "EY",
    "tch": "CH", "sch": "S K", "igh": "AY", "dge": "JH", "air": "EH R", "ear": "IH R", "eer": "IH R",
    "our": "AW ER", "ous": "AH S", "ing": "IH NG", "cia": "SH AH", "cio": "SH IY OW",
    "th": "TH", "sh": "SH", "ch": "CH", "ph": "F", "wh": "W", "ck": "K", "ng": "NG", "qu": "K W",
    "ee": "IY", "ea": "IY", "oo": "UW", "ou": "AW", "ow": "OW", "oi": "OY", "oy": "OY", "ai": "EY",
    "ay": "EY", "au": "AO", "aw": "AO", "ie": "IY", "ei": "EY", "ey": "IY", "ue": "UW", "ew": "UW",
    "oa": "OW", "er": "ER", "ir": "ER", "ur": "ER", "ar": "AA R", "or": "AO R",
    "a": "AE", "b": "B", "d": "D", "e": "EH", "f": "F", "h": "HH", "i": "IH", "j": "JH", "k": "K", "l": "L",
    "m": "M", "n": "N", "o": "AA", "p": "P", "q": "K", "r": "R", "s": "S", "t": "T", "u": "AH", "v": "V",
    "w": "W", "x": "K S", "z": "Z",
}
_LONG = {"a": "EY", "e": "IY", "i": "AY", "o": "OW", "u": "UW", "y": "AY"}
_REDUCE = {"AE": "AH", "AA": "AH", "AO": "AH", "AH": "AH", "EH": "IH", "IH": "IH"}
_VOWEL_LETTERS = set("aeiouy")


def rule_g2p(word: str) -> list[str]:
    """Deterministic English letter-to-sound rules; never empty for a word with a letter.

    Handles digraphs / trigraphs (th, sh, ch, ph, ck, ng, qu, ee, oo, ou, ai, igh, tion, ...),
    silent initial k/w/p/g, soft c / g before e, i, y, a silent final e that lengthens the vowel
    before it ("made" -> M EY1 D), double consonants, final -le / -ed / -y. Stress: primary on
    the first vowel, the rest unstressed (reduced to AH0 / IH0 where English usually reduces).
    Letters other than a-z and apostrophes are ignored.
    """
    w = re.sub(r"[^a-z]", "", word.lower())
    if not w:
        return []
    phones: list[str] = []
    i, n = 0, len(w)
    if n > 1 and w[:2] in _RULES_INITIAL:
        phones += _RULES_INITIAL[w[:2]].split()
        i = 2
    elif w[0] in "xy" and n > 1:
        phones += _RULES_INITIAL[w[0]].split()
        i = 1
    while i < n:
        c = w[i]
        rest = w[i:]
        if c == "e" and i == n - 1 and i > 0 and any(ch in _VOWEL_LETTERS for ch in w[:i]):
            if n >= 3 and w[-2] == "l" and w[-3] not in _VOWEL_LETTERS:  # "table"
                phones[-1:] = ["AH", "L"]
            i += 1
            continue
        if rest == "ed" and i > 1:
            phones += ["IH", "D"] if w[i - 1] in "td" else ["D"]
            break
        if rest == "y" and i > 0:
            phones.append("IY")
            break
        if i + 1 < n and w[i + 1] == c and c not in _VOWEL_LETTERS:  # double consonant
            i += 1
            continue
        if c in "aeiouy" and i + 3 == n and w[-1] == "e" and w[i + 1] not in _VOWEL_LETTERS \
                and w[i + 1] not in "wxr":  # magic e: "made", "time", "home"
            phones.append(_LONG[c])
            i += 1
            continue
        if c == "c" and w[i + 1: i + 2] != "h":
            phones.append("S" if i + 1 < n and w[i + 1] in "eiy" else "K")
            if w[i + 1: i + 2] == "k":
                i += 1
            i += 1
            continue
        if c == "g":
            if w[i + 1: i + 2] == "h":
                if i == 0:
                    phones.append("G")
                i += 2
                continue
            phones.append("JH" if i + 1 < n and w[i + 1] in "eiy" else "G")
            i += 1
            continue
        if c == "y":
            phones.append("IH" if 0 < i < n - 1 and w[i + 1] not in _VOWEL_LETTERS else "Y")
            i += 1
            continue
        for size in (4, 3, 2, 1):
            g = w[i: i + size]
            if len(g) == size and g in _RULES:
                phones += _RULES[g].split()
                i += size
                break
        else:
            i += 1
    out: list[str] = []
    stressed = False
    for p in phones:
        if p in VOWELS:
            if not stressed:
                out.append(p + "1")
                stressed = True
            else:
                out.append(_REDUCE.get(p, p) + "0")
        else:
            out.append(p)
    if not stressed and out:  # no vowel letter at all ("hmm", "pst"): read the letters
        out = [ph for ch in w for ph in LETTER_NAMES[ch.upper()].split()]
    return out


# ---------------------------------------------------------------------------------------------

@dataclass
class WordPronunciation:
    """One word of the input and how it was read ("dict", "letter", "neural", "rules")."""

    word: str
    phonemes: list[str]
    source: str


@dataclass
class G2PResult:
    """Tokens of a text plus, per word, where its pronunciation came from."""

    tokens: list[str]
    words: list[WordPronunciation] = field(default_factory=list)

    @property
    def guessed(self) -> list[tuple[str, str]]:
        """``(word, source)`` for every distinct word that was not in the dictionary."""
        seen = dict.fromkeys((w.word, w.source) for w in self.words if w.source in ("neural", "rules"))
        return list(seen)


_RE_TOKENS = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*'?|\d|[,.;:?!]|(?<![\w])-(?![\w])")


class G2P:
    """Normalized text -> phoneme / boundary / pause tokens (see the module docstring).

    Args:
        fallback: "auto" (default) loads the neural fallback from :func:`auto_model_path`
            (``$SPEECH_G2P_MODEL``, ``~/.cache/speech/g2p_ctc.pt``, the bundled ``g2p`` model), else uses the rule table (a file
            there that cannot be loaded gives one warning per process naming it, and the rule
            table); a path loads that checkpoint (a broken one raises the ``ValueError`` of
            :func:`load_g2p_model`); a :class:`G2PNet` is used as is; None uses the rule table only.
    """

    def __init__(self, fallback="auto"):
        self._model: G2PNet | None = None
        self._pending: Path | None = None
        if isinstance(fallback, G2PNet):
            self._model = fallback
        elif fallback == "auto":
            # found now, loaded at the first word the dictionary lacks: text that CMUdict covers never
            # pays for torch
            self._pending = auto_model_path()
        elif fallback is not None:
            self._model = load_g2p_model(fallback)
        self._cache: dict[str, tuple[list[str], str]] = {}

    @property
    def model(self) -> G2PNet | None:
        """The neural fallback (loaded on first use for ``fallback="auto"``), or None: the rule table."""
        if self._pending is not None:
            path, self._pending = self._pending, None
            try:
                self._model = load_g2p_model(path)
            except Exception as e:  # noqa: BLE001 - a broken file must not break synthesis: rules take over
                _warn_once(path, e)
        return self._model

    @property
    def fallback_name(self) -> str:
        return "neural" if self.model is not None else "rules"

    def _guess(self, word: str) -> tuple[list[str], str]:
        if self.model is not None:
            phones = self.model.predict([word])[0]
            if phones:
                return phones, "neural"
        return rule_g2p(word), "rules"

    def lookup(self, word: str) -> tuple[list[str], str]:
        """Pronunciation of one word and its source ("dict", "letter", "neural", "rules")."""
        hit = self._cache.get(word)
        if hit is not None:
            return hit
        result = self._lookup(word)
        if len(self._cache) < 100_000:
            self._cache[word] = result
        return result

    def _lookup(self, word: str) -> tuple[list[str], str]:
        if len(word) == 1 and "A" <= word <= "Z":
            return LETTER_NAMES[word].split(), "letter"
        if word.isdigit():
            return self.lookup(_DIGIT_WORDS[int(word)])
        lw = word.lower()
        d = cmu_dict() or {}
        if lw in _EXTRA_LEXICON:
            return _EXTRA_LEXICON[lw].split(), "dict"
        if lw in d:
            return list(d[lw][0]), "dict"
        if "'" in lw:
            base, _, suffix = lw.partition("'")
            if suffix in ("s", "") and base:
                stem_word = word[: len(base)]
                phones, source = self.lookup(stem_word)
                if suffix == "":  # "dogs'" -> "dogs"
                    return phones, source
                last = phones[-1] if phones else ""
                end = ["IH0", "Z"] if last in _SIBILANTS else ["S"] if last in _VOICELESS else ["Z"]
                return phones + end, source
            stripped = lw.replace("'", "")
            if stripped in d:
                return list(d[stripped][0]), "dict"
            return self._guess(stripped)
        return self._guess(lw)

    def convert(self, text) -> G2PResult:
        """Tokens and per-word sources for a normalized text (``str`` or ``NormalizedText``)."""
        text = getattr(text, "text", text)
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        tokens: list[str] = []
        words: list[WordPronunciation] = []
        pending_pause: str | None = None
        for tok in _RE_TOKENS.findall(text):
            if tok in PUNCT_TO_PAUSE:
                pause = PUNCT_TO_PAUSE[tok]
                if tokens and (pending_pause is None or _rank(pause) > _rank(pending_pause)):
                    pending_pause = pause
                continue
            parts = [p for p in tok.split("-") if p.strip("'")] if "-" in tok else [tok]
            for part in parts:
                phones, source = self.lookup(part)
                if not phones:
                    continue
                if tokens:
                    tokens.append(pending_pause or WB)
                pending_pause = None
                tokens.extend(phones)
                words.append(WordPronunciation(part, phones, source))
        if pending_pause is not None and tokens:
            tokens.append(pending_pause)
        return G2PResult(tokens, words)

    def __call__(self, text) -> list[str]:
        """Tokens for a normalized text: phonemes, ``<wb>`` and pause tokens."""
        return self.convert(text).tokens


def auto_model_path() -> Path | None:
    """Where ``G2P(fallback="auto")`` finds the neural fallback: ``$SPEECH_G2P_MODEL`` (a file or a
    folder), else a model trained into ``~/.cache/speech/g2p_ctc.pt``, else the bundled ``g2p`` model
    (``speech/pretrained/g2p``); None when there is none (the rule table guesses)."""
    env = os.environ.get("SPEECH_G2P_MODEL")
    if env:
        return Path(env) if Path(env).exists() else None
    if DEFAULT_MODEL_PATH.is_file():
        return DEFAULT_MODEL_PATH
    return pretrained_path(BUNDLED_NAME)


BUNDLED_NAME = "g2p"
"""The bundled G2P model's name (``speech models`` lists it)."""

_WARNED: set[str] = set()


def _warn_once(path: Path, error: Exception) -> None:
    """One warning per process and file: the G2P model file is unusable, the rule table is used instead."""
    if str(path) in _WARNED:
        return
    _WARNED.add(str(path))
    why = str(error) if str(path) in str(error) else f"{path}: {error}"
    warnings.warn(f"{why}; words not in the dictionary are read by the letter-to-sound rules instead",
                  RuntimeWarning, stacklevel=3)


def _rank(pause: str) -> int:
    return {"<pau_short>": 1, "<pau_mid>": 2, "<pau_long>": 3}[pause]


_DEFAULT: G2P | None = None


def default_g2p() -> G2P:
    """A shared :class:`G2P` with the default ("auto") fallback."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = G2P()
    return _DEFAULT


def main(argv: list[str] | None = None) -> int:
    """``python -m speech.text.g2p train OUT.pt [--epochs N]`` or ``... say TEXT``."""
    import argparse  # noqa: PLC0415

    ap = argparse.ArgumentParser(prog="python -m speech.text.g2p")
    sub = ap.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train", help="train the neural fallback on CMUdict")
    tr.add_argument("out")
    tr.add_argument("--epochs", type=int, default=3)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--hidden", type=int, default=128)
    tr.add_argument("--threads", type=int, default=1)
    tr.add_argument("--limit", type=int, default=None)
    tr.add_argument("--max-minutes", type=float, default=None)
    ev = sub.add_parser("eval-rules", help="PER / WER of the rule table on the held-out words")
    ev.add_argument("--seed", type=int, default=0)
    say = sub.add_parser("say", help="normalize + G2P a text and print the tokens")
    say.add_argument("text")
    args = ap.parse_args(argv)
    if args.cmd == "train":
        train_g2p(args.out, epochs=args.epochs, seed=args.seed, hidden=args.hidden, threads=args.threads,
                  limit=args.limit, max_minutes=args.max_minutes)
    elif args.cmd == "eval-rules":
        _, test = cmudict_split(args.seed)
        m = evaluate_g2p(lambda ws: [rule_g2p(w) for w in ws], test)
        print(f"rules held-out ({m['words']} words): PER {m['per']:.2%}, WER {m['wer']:.2%} "
              f"(any pronunciation: {m['wer_any']:.2%})")
    else:
        norm = normalize_for_tts(args.text)
        res = default_g2p().convert(norm)
        print(norm.text)
        print(" ".join(res.tokens))
        if norm.unknown:
            print("could not read:", " ".join(norm.unknown_chars))
        if res.guessed:
            print("guessed pronunciation:", ", ".join(f"{w} ({s})" for w, s in res.guessed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
