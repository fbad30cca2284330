"""Self-contained model packages: a folder with everything needed to run a trained model.

Layout of an ASR package::

    config.yaml      the resolved training config (model, features, loss, decoding, ...)
    tokenizer.json   the vocabulary
    model.pt         weights (a state_dict of tensors only; CMVN statistics are buffers in it)
    meta.json        format version, training summary (steps, dev metrics), toolkit version

A package is data from a stranger, so loading one can only ever build the toolkit's own model and
feature classes:

* ``config.yaml`` is read as plain YAML (no tags such as ``!!python/object``, no anchors/aliases;
  at most 1 MB) into OmegaConf. Hydra's ``instantiate`` is never called on it.
* Only the nodes a loader needs are built, each by :func:`build_node` through an explicit
  allow-list (:data:`ALLOWED_TARGETS`): a slot (``features.fbank``, ``model.asr``, ``model.tts``,
  ``vocoder.generator``) maps the ``_target_`` strings the toolkit itself writes to one factory.
  Before anything is called, the raw (unresolved) node is checked: the target is on the list, every
  other key is a field of that factory's config (no ``_args_``, ``_partial_``, ``_recursive_``, ...;
  no nested ``_target_``), and every value is a plain scalar or a list / mapping of them, with no
  ``${...}`` interpolation or resolver. The factory is then called with those keyword arguments and
  the sizes the loader supplies (vocabulary, mel bands). Every other section (trainer, loss, data,
  decoding, ...) is kept as data and never instantiated.
* ``model.pt`` is read with ``torch.load(weights_only=True)`` (:func:`read_weights`), must be a
  mapping of parameter names to tensors, and must fit the model before ``load_state_dict``.

Every refusal is one :class:`PackageError` line naming the file (with the line of ``config.yaml``
where it can), the key, and what was expected.
"""
from __future__ import annotations

import dataclasses
import io
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
import yaml
from omegaconf import DictConfig, OmegaConf

from speech.features import FbankConfig
from speech.fileio import atomic_write_text

FORMAT = "speech-asr-package"
FORMAT_VERSION = 1
MAX_CONFIG_BYTES = 1 << 20
"""A package's config.yaml is a few kB; anything above this is refused before it is parsed."""

# Slot (dotted path in config.yaml) -> the ``_target_`` strings a package may name there. These
# are exactly what the toolkit writes (conf/model/asr/*.yaml, conf/model/tts/*.yaml,
# conf/features/*.yaml, save_tts_package, save_vocoder_package). ``None``: the node carries no
# ``_target_``; the loader always builds the one factory listed in _IMPLICIT.
ALLOWED_TARGETS: dict[str, tuple[str | None, ...]] = {
    "features.fbank": ("speech.features.FbankConfig",),
    "model.asr": ("speech.models.asr.bilstm_ctc",),
    "model.tts": ("speech.models.tts.fastspeech2",),
    "vocoder.generator": (None,),
}
_IMPLICIT = {"vocoder.generator": "speech.models.vocoders.hifigan_generator"}


class PackageError(ValueError):
    """A model package that is missing, incomplete, malformed or unsafe (one line naming the file)."""


@dataclass(frozen=True)
class Buildable:
    """One allow-listed factory: the callable and the keyword arguments a package may set."""

    factory: Callable[..., Any]
    fields: tuple[str, ...]


def _fields(cls) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _registry(slot: str) -> dict[str, Buildable]:
    """The explicit ``{target string: factory}`` map of a slot (imports only what the slot needs)."""
    if slot == "features.fbank":
        return {"speech.features.FbankConfig": Buildable(FbankConfig, _fields(FbankConfig))}
    if slot == "model.asr":
        from speech.models.asr import bilstm_ctc

        return {"speech.models.asr.bilstm_ctc": Buildable(bilstm_ctc, _fields(bilstm_ctc.config_class))}
    if slot == "model.tts":
        from speech.models.tts import fastspeech2

        return {"speech.models.tts.fastspeech2": Buildable(fastspeech2, _fields(fastspeech2.config_class))}
    if slot == "vocoder.generator":
        from speech.models.vocoders.hifigan import hifigan_generator

        return {_IMPLICIT[slot]: Buildable(hifigan_generator, ("preset",) + _fields(hifigan_generator.config_class))}
    raise KeyError(f"no allow-list for config slot {slot!r}")


# ----------------------------------------------------------------------------------------------
# config.yaml


@dataclass
class PackageConfig:
    """A package's ``config.yaml``: the OmegaConf view, the raw (unresolved) values, and the YAML
    node tree (for line numbers in messages)."""

    file: Path
    cfg: DictConfig
    raw: dict
    root: Any = None

    def line(self, path: Iterable) -> int | None:
        """1-based line of the key at ``path`` (parts: keys and list indices), or None."""
        node = self.root
        line = None
        for part in path:
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                        line, node = k.start_mark.line + 1, v
                        break
                else:
                    return line
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                return line
        return line

    def error(self, path: list, what: str) -> PackageError:
        """``<file>:<line>: <dotted key>: <what>`` as a :class:`PackageError`."""
        line = self.line(path)
        key = _dotted(path)
        where = f"{self.file}:{line}" if line else str(self.file)
        return PackageError(f"{where}: {key}: {what}" if key else f"{where}: {what}")

    def section(self, slot: str) -> Any:
        """The raw value at dotted ``slot``; a missing one is a :class:`PackageError`."""
        node: Any = self.raw
        parts: list = []
        for part in slot.split("."):
            if not isinstance(node, dict) or part not in node:
                raise self.error(parts, f"no '{part}' section; expected {slot} (is this the right kind of package?)"
                                 if parts else f"expected a section '{slot}' (is this the right kind of package?)")
            parts.append(part)
            node = node[part]
        return node

    def has(self, slot: str) -> bool:
        node: Any = self.raw
        for part in slot.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True


def _dotted(path: Iterable) -> str:
    out = ""
    for p in path:
        p = p if isinstance(p, int) or (isinstance(p, str) and p.isprintable()) else repr(p)
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def read_package_config(file: Path) -> PackageConfig:
    """Read a package's ``config.yaml`` as plain data: no YAML tags, no aliases, a mapping at the
    top; values stay unresolved (``${...}`` is kept as text and refused where a node is built)."""
    try:
        size = file.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise PackageError(f"{file}: {size} bytes; a package's config is a few kB, expected at most "
                               f"{MAX_CONFIG_BYTES} bytes")
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise PackageError(f"{file}: not UTF-8 text ({e.reason} at byte {e.start}); expected a YAML config") from None
    except OSError as e:
        raise PackageError(f"{file}: cannot read ({e.strerror or e})") from None

    def bad(mark, what: str) -> PackageError:
        return PackageError(f"{file}:{mark.line + 1}: {what}" if mark is not None else f"{file}: {what}")

    try:  # the event stream: refuse explicit tags and aliases before anything is constructed
        for ev in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(ev, yaml.AliasEvent):
                raise bad(ev.start_mark, f"YAML alias '*{ev.anchor}'; a package config holds plain values, "
                                         "expected no anchors or aliases")
            tag = getattr(ev, "tag", None)
            if tag is not None:  # an explicit tag: !!python/object/apply:..., !!binary, !custom
                raise bad(ev.start_mark, f"YAML tag {tag!r} is not allowed; expected plain mappings, lists "
                                         "and scalars")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        cfg = OmegaConf.load(io.StringIO(text))
    except yaml.MarkedYAMLError as e:
        raise bad(e.problem_mark, f"not valid YAML ({_one_line(e.problem or e)}); expected a mapping of "
                                  "config sections") from None
    except PackageError:
        raise
    except Exception as e:  # noqa: BLE001 - YAMLError, OmegaConf's unsupported value types
        raise PackageError(f"{file}: not a valid config ({_one_line(str(e).splitlines()[0])}); expected a "
                           "mapping of config sections") from None
    if not isinstance(cfg, DictConfig):
        raise PackageError(f"{file}: expected a mapping of config sections, got a {type(cfg).__name__}")
    raw = OmegaConf.to_container(cfg, resolve=False)
    return PackageConfig(file, cfg, raw, root)


def _check_value(pc: PackageConfig, path: list, value: Any, depth: int = 0) -> None:
    """A built node's value: a plain scalar, or lists (two levels at most) / a mapping of them."""
    if value is None or isinstance(value, (bool, int, float)):
        return
    if isinstance(value, str):
        if "${" in value:
            raise pc.error(path, f"interpolation {value!r} is not allowed in a package; expected a plain value")
        if value == "???":
            raise pc.error(path, "missing value '???'; expected a value")
        return
    if isinstance(value, list) and depth < 2:
        for i, v in enumerate(value):
            if isinstance(v, dict):
                raise pc.error(path + [i], "a mapping inside a list; expected numbers, strings or lists of them")
            _check_value(pc, path + [i], v, depth + 1)
        return
    if isinstance(value, dict) and depth == 0:
        for k, v in value.items():
            if k == "_target_":
                raise pc.error(path + [k], "a nested _target_; a package builds only the class named at the top "
                                           "of the section, expected plain values below it")
            if not isinstance(k, str) or k.startswith("_"):
                raise pc.error(path + [k], "a reserved key; expected plain field names")
            if isinstance(v, (dict, list)):
                raise pc.error(path + [k], f"a nested {type(v).__name__}; expected a plain value")
            _check_value(pc, path + [k], v, depth + 1)
        return
    kind = "nesting too deep" if isinstance(value, (list, dict)) else f"a {type(value).__name__} value"
    raise pc.error(path, f"{kind}; expected a number, string, boolean, null or a list of them")


def check_node(pc: PackageConfig, slot: str, runtime: Iterable[str] = ()) -> tuple[str, Buildable, dict]:
    """Check the raw node at ``slot`` against the allow-list without calling anything.

    Returns ``(target, buildable, kwargs)``; ``runtime``: the keyword arguments the loader passes
    itself (a package may not set them). Raises a one-line :class:`PackageError` naming the key."""
    node = pc.section(slot)
    path = slot.split(".")
    names = [t for t in ALLOWED_TARGETS[slot] if t is not None]
    if isinstance(node, str) and "${" in node:
        raise pc.error(path, f"interpolation {node!r} is not allowed in a package; expected a mapping")
    if not isinstance(node, dict):
        raise pc.error(path, f"a {type(node).__name__}; expected a mapping"
                       + (f" with _target_ {names[0]!r}" if names else ""))
    registry = _registry(slot)
    if slot in _IMPLICIT:
        if "_target_" in node:
            raise pc.error(path + ["_target_"], f"{node['_target_']!r}: this section names no class (the toolkit "
                                                f"always builds {_IMPLICIT[slot]}); expected no _target_")
        target = _IMPLICIT[slot]
    else:
        if "_target_" not in node:
            raise pc.error(path, f"no _target_; expected {' or '.join(names)}")
        target = node["_target_"]
        if not isinstance(target, str) or target not in names:
            what = "feature class" if slot.startswith("features.") else "model class"
            raise pc.error(path + ["_target_"], f"{target!r} is not a {what} a package may name; "
                                                f"allowed: {', '.join(names)}")
    build = registry[target]
    runtime = set(runtime)
    kwargs = {}
    for key, value in node.items():
        if key == "_target_":
            continue
        if not isinstance(key, str):
            raise pc.error(path + [key], f"a {type(key).__name__} key; expected field names")
        if key.startswith("_"):
            raise pc.error(path + [key], f"Hydra's {key} is not allowed in a package; expected _target_ and "
                                         f"fields of {target}")
        if key in runtime:
            raise pc.error(path + [key], "set by the toolkit when it loads the package; expected it absent")
        if key not in build.fields:
            valid = ", ".join(f for f in build.fields if f not in runtime)
            raise pc.error(path + [key], f"unknown field of {target}; expected one of {valid}")
        _check_value(pc, path + [key], value)
        kwargs[key] = value
    return target, build, kwargs


def build_node(pc: PackageConfig, slot: str, **runtime) -> Any:
    """Build the allow-listed class at ``slot`` of a package config (see :func:`check_node`), passing
    ``runtime`` keyword arguments too; a constructor's complaint becomes a one-line PackageError."""
    target, build, kwargs = check_node(pc, slot, runtime)
    try:
        return build.factory(**kwargs, **runtime)
    except Exception as e:  # noqa: BLE001 - the factories raise TypeError / ValueError naming the field
        why = _one_line(str(e).strip().splitlines()[0]) if str(e).strip() else type(e).__name__
        raise pc.error(slot.split("."), f"cannot build {target}: {why}") from None


def open_package(path: str | Path, kind: str, files: tuple[str, ...],
                 wrong_task: str | tuple[str, ...] | None = None) -> tuple[Path, PackageConfig, dict]:
    """Check a package folder, read its ``config.yaml`` (:func:`read_package_config`: plain data,
    nothing built) and ``meta.json``; every error is a one-line :class:`PackageError` naming the file.

    Args:
        kind: what the caller loads, for messages ("model", "voice", "vocoder").
        files: files the folder must hold (``config.yaml`` first).
        wrong_task: ``meta.json`` task(s) refused with a message saying what the folder is.
    """
    p = Path(path)
    listing = ", ".join(files)
    if not p.exists():
        raise PackageError(f"{p}: {kind} package not found")
    if not p.is_dir():
        raise PackageError(f"{p}: expected a {kind} package folder ({listing})")
    meta = {}
    if (p / "meta.json").is_file():
        try:
            meta = json.loads((p / "meta.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise PackageError(f"{p / 'meta.json'}: not valid JSON ({e.msg} at line {e.lineno})") from None
        except (UnicodeDecodeError, OSError) as e:
            raise PackageError(f"{p / 'meta.json'}: cannot read ({_one_line(e)})") from None
        if not isinstance(meta, dict):
            raise PackageError(f"{p / 'meta.json'}: a JSON {type(meta).__name__}; expected an object")
    wrong = (wrong_task,) if isinstance(wrong_task, str) else tuple(wrong_task or ())
    if meta.get("task") in wrong:
        task = meta["task"]
        what = {"asr": "recognition (ASR) model", "tts": "voice (synthesis)", "vocoder": "vocoder"}.get(task, task)
        raise PackageError(f"{p}: this is a {what} package, not a {kind} package")
    for name in files:
        if not (p / name).is_file():
            raise PackageError(f"{p / name}: missing; a {kind} package holds {listing}")
    return p, read_package_config(p / "config.yaml"), meta


# ----------------------------------------------------------------------------------------------
# model.pt

_EXPECTED_WEIGHTS = "expected tensors saved by `speech train`"


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """A package's weights: ``torch.load(weights_only=True)`` (never a full unpickler), checked to
    be a mapping of parameter names to tensors. Any failure is one :class:`PackageError` line that
    says what is wrong with the file (torch's own advice about ``weights_only`` is never passed on)."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4": noise for a refused file
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        raise PackageError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from None
    except Exception as e:  # noqa: BLE001 - classified below from the file itself
        raise PackageError(f"{path}: {_weights_problem(path, e)}; {_EXPECTED_WEIGHTS}") from None
    if not isinstance(state, dict):
        raise PackageError(f"{path}: holds a {type(state).__name__}, not a mapping of parameter names to "
                           f"tensors; {_EXPECTED_WEIGHTS}")
    for k, v in state.items():
        if not isinstance(k, str):
            raise PackageError(f"{path}: a {type(k).__name__} key {k!r}; expected parameter names (strings)")
        if not isinstance(v, torch.Tensor):
            raise PackageError(f"{path}: entry {k!r} is a {type(v).__name__}, not a tensor; {_EXPECTED_WEIGHTS}")
    return state


def _weights_problem(path: Path, e: Exception) -> str:
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        head = b""
    text = str(e)
    if not head:
        return "empty file"
    if isinstance(e, EOFError):
        return "truncated or corrupt (ends early)"
    found = re.search(r"GLOBAL ([\w.]+)", text) or re.search(r"[Uu]nsupported global:? (?:GLOBAL )?([\w.]+)", text)
    if found:
        return (f"not a weights file this toolkit wrote (unpickling refused: it holds objects other than "
                f"tensors, e.g. {found.group(1)})")
    if head != b"PK\x03\x04":
        return "not a weights file this toolkit wrote (not a torch zip archive of tensors)"
    if "Weights only" in text or "WeightsUnpickler" in text:
        return "not a weights file this toolkit wrote (unpickling refused: it holds objects other than tensors)"
    return "truncated or corrupt (not a readable torch zip archive)"


def write_weights_and_meta(out: Path, state: dict, fmt: str, task: str, meta: dict | None) -> Path:
    """Write ``model.pt`` (tensors only, on the CPU) and ``meta.json`` (format, task, toolkit version,
    ``meta``) into a package folder, each atomically; returns the folder."""
    import speech
    from speech.train.checkpoint import atomic_save

    atomic_save({k: v.detach().cpu() for k, v in state.items()}, out / "model.pt")
    info = {"format": fmt, "format_version": FORMAT_VERSION, "task": task,
            "toolkit_version": getattr(speech, "__version__", "?"), **(meta or {})}
    atomic_write_text(out / "meta.json", json.dumps(info, indent=2) + "\n")
    return out


def _check_fit(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor], path: Path) -> None:
    """One-line PackageError when ``state`` (the file's tensors) does not match the parameter names
    and shapes of ``own`` (a model's state_dict, possibly on the meta device)."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state and state[k].shape != own[k].shape]

    def few(xs: list) -> str:
        return ", ".join(xs[:3]) + (f" (+{len(xs) - 3} more)" if len(xs) > 3 else "")

    problems = ([f"missing {few(missing)}"] if missing else []) + \
               ([f"unexpected {few(unexpected)}"] if unexpected else []) + \
               ([f"other shapes: {few(shapes)}"] if shapes else [])
    if problems:
        raise PackageError(f"{path}: weights do not fit the model config.yaml describes ({'; '.join(problems)}); "
                           "expected the weights saved with this config")


def load_weights(model: torch.nn.Module, path: Path, state: dict[str, torch.Tensor] | None = None
                 ) -> torch.nn.Module:
    """Load a package's ``model.pt`` (:func:`read_weights`: tensors only) into ``model``; weights that
    do not fit (missing / unexpected names, other shapes) are a one-line :class:`PackageError`."""
    state = read_weights(path) if state is None else state
    _check_fit(model.state_dict(), state, path)
    try:
        model.load_state_dict(state)
    except Exception as e:  # noqa: BLE001
        raise PackageError(f"{path}: cannot load weights ({_one_line(str(e).splitlines()[0])})") from None
    return model


def build_with_weights(build: Callable[[], torch.nn.Module], path: Path) -> torch.nn.Module:
    """``build()`` a package's model and load its ``model.pt``, checking first, without allocating
    anything, that the two agree: the model is built once on torch's ``meta`` device (shapes only)
    and compared with the file's tensors. A config.yaml that describes a model far larger than its
    weights (``hidden_size: 100000`` beside a small model.pt) is refused in one line instead of
    exhausting memory; what a package can make the loader allocate is bounded by its weights file."""
    state = read_weights(path)
    try:
        with torch.device("meta"):
            skeleton = build()
    except PackageError:
        raise
    except Exception as e:  # noqa: BLE001 - a constructor's complaint, in one line
        raise PackageError(f"{path.parent / 'config.yaml'}: cannot build the model it describes "
                           f"({_one_line(str(e).splitlines()[0]) if str(e) else type(e).__name__})") from None
    _check_fit(skeleton.state_dict(), state, path)
    del skeleton
    return load_weights(build(), path, state)


