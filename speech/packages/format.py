"""Self-contained model packages: a folder with everything needed to run a trained model.

Layout of an ASR package::

    config.yaml        the resolved training config (model, features, loss, decoding, ...)
    tokenizer.json     the vocabulary
    model.safetensors  weights: a safetensors file of named tensors (CMVN statistics are buffers in it)
    meta.json          format, format version, task, training summary (steps, dev metrics), toolkit version

Voice and vocoder packages (:mod:`speech.packages.voice`, :mod:`speech.packages.vocoder`) have the
same shape with their own side files. Packages written before format version 2 hold ``model.pt``
(a ``torch.save`` state dict) instead of ``model.safetensors``; they still load, read with
``torch.load(weights_only=True)``. When both files are present, ``model.safetensors`` is the one
read. The weights files themselves are read and written by :mod:`speech.packages.weights`.

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
* The weights are never unpickled: ``model.safetensors`` is parsed by the ``safetensors`` library
  (a JSON header and raw tensor bytes), a legacy ``model.pt`` by ``torch.load(weights_only=True)``;
  either must be a mapping of parameter names to tensors that fits the model (names, shapes) before
  ``load_state_dict`` (:func:`speech.packages.weights.build_with_weights`).

Every refusal is one :class:`PackageError` line naming the file (with the line of ``config.yaml``
where it can), the key, and what was expected.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf._utils import get_yaml_loader

from speech.features import FbankConfig
from speech.models.asr import bilstm_ctc
from speech.models.tts import fastspeech2
from speech.models.vocoders.hifigan import hifigan_generator
from speech.packages.registry import ONNX_EXPORT_FORMAT, PACKAGE_WORDS, onnx_export_message, resolve_model

FORMAT = "speech-asr-package"
FORMAT_VERSION = 2
"""meta.json's ``format_version``: 1 = weights in ``model.pt`` (torch.save), 2 = ``model.safetensors``."""
WEIGHTS_FILE = "model.safetensors"
"""The weights file every package is written with (format version 2)."""
LEGACY_WEIGHTS_FILE = "model.pt"
"""The weights file of packages written before format version 2 (still read, never written)."""
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
    """The explicit ``{target string: factory}`` map of a slot."""
    if slot == "features.fbank":
        return {"speech.features.FbankConfig": Buildable(FbankConfig, _fields(FbankConfig))}
    if slot == "model.asr":
        return {"speech.models.asr.bilstm_ctc": Buildable(bilstm_ctc, _fields(bilstm_ctc.config_class))}
    if slot == "model.tts":
        return {"speech.models.tts.fastspeech2": Buildable(fastspeech2, _fields(fastspeech2.config_class))}
    if slot == "vocoder.generator":
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


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML has it (the same events and nodes, ~10x faster than the Python one)."""


class _ConfigLoader(_LOADER):  # type: ignore[misc, valid-type]
    """:data:`_LOADER` reading values as OmegaConf's own YAML loader does (its float forms such as
    ``1e-3``, no timestamps; duplicate keys refused), so that ``OmegaConf.create`` of what it reads
    equals ``OmegaConf.load`` of the text, at libyaml's speed."""

    yaml_implicit_resolvers = get_yaml_loader().yaml_implicit_resolvers

    def construct_mapping(self, node, deep=False):
        keys = set()
        for key_node, _ in node.value:
            if key_node.tag == yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG:
                if key_node.value in keys:
                    raise yaml.constructor.ConstructorError("while constructing a mapping", node.start_mark,
                                                            f"found duplicate key {key_node.value}",
                                                            key_node.start_mark)
                keys.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


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
        for ev in yaml.parse(text, Loader=_LOADER):
            if isinstance(ev, yaml.AliasEvent):
                raise bad(ev.start_mark, f"YAML alias '*{ev.anchor}'; a package config holds plain values, "
                                         "expected no anchors or aliases")
            tag = getattr(ev, "tag", None)
            if tag is not None:  # an explicit tag: !!python/object/apply:..., !!binary, !custom
                raise bad(ev.start_mark, f"YAML tag {tag!r} is not allowed; expected plain mappings, lists "
                                         "and scalars")
        root = yaml.compose(text, Loader=_LOADER)
        cfg = OmegaConf.create(yaml.load(text, Loader=_ConfigLoader))  # noqa: S506 - a safe loader
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
        files: files the folder must hold (``config.yaml`` first); :data:`WEIGHTS_FILE` among them is
            satisfied by a legacy :data:`LEGACY_WEIGHTS_FILE` too (see :func:`weights_path`).
        wrong_task: ``meta.json`` task(s) refused with a message saying what the folder is.
    """
    try:
        p = resolve_model(path, kind)  # a bundled model's name -> its folder (an existing path wins)
    except ValueError as e:
        raise PackageError(str(e)) from None
    listing = ", ".join(files) + (f" ({LEGACY_WEIGHTS_FILE} in packages from older versions)"
                                  if WEIGHTS_FILE in files else "")
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
    if meta.get("format") == ONNX_EXPORT_FORMAT:
        raise PackageError(onnx_export_message(path))
    wrong = (wrong_task,) if isinstance(wrong_task, str) else tuple(wrong_task or ())
    if meta.get("task") in wrong:
        task = meta["task"]
        what = PACKAGE_WORDS.get(task, task)
        raise PackageError(f"{p}: this is a {what} package, not a {kind} package")
    for name in files:
        if not (p / name).is_file() and not (name == WEIGHTS_FILE and (p / LEGACY_WEIGHTS_FILE).is_file()):
            raise PackageError(f"{p / name}: missing; a {kind} package holds {listing}")
    return p, read_package_config(p / "config.yaml"), meta


def weights_path(folder: str | Path) -> Path:
    """The weights file of a package folder: ``model.safetensors``, or ``model.pt`` when a package
    from before format version 2 holds only that; ``model.safetensors`` when neither exists (so a
    message names the file a package should have)."""
    folder = Path(folder)
    if not (folder / WEIGHTS_FILE).exists() and (folder / LEGACY_WEIGHTS_FILE).is_file():
        return folder / LEGACY_WEIGHTS_FILE
    return folder / WEIGHTS_FILE
