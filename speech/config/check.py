"""Checks of a composed config: every value against the type annotations and range checks of the
code that will use it, in one line naming the key (:func:`validate`), and the range-check helpers
config dataclasses call from ``__post_init__`` (:func:`check_ranges`, :func:`rule`, ``GE0`` ...).

Import these names from :mod:`speech.config` (which re-exports them); this module holds them so that
composing (Hydra) and checking stay two modules of readable size.
"""
from __future__ import annotations

import dataclasses
import difflib
import inspect
import re
import types
import typing
from collections.abc import Sequence as _AbcSequence
from typing import Any, Callable, Sequence

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from speech.ranges import FRACTION, GE0, GE1, GT0, check_ranges, rule
from speech.ranges import show_value as _show

__all__ = ["FRACTION", "GE0", "GE1", "GT0", "ConfigError", "check_ranges", "rule", "validate"]


class ConfigError(ValueError):
    """A config that cannot be composed or instantiated; the message names the field."""


def suggest(word: str, choices: Sequence[str], full: Callable[[str], str] = str) -> str:
    """ "did you mean X?" when something is close, else the list of choices."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if close:
        return f"did you mean {full(close[0])}?"
    return f"expected one of: {', '.join(sorted(choices))}" if choices else "this node has no keys"


_HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}

# Non-dataclass targets that are cheap to build (no weights, no files): built so their own checks run.
_BUILD_AT_COMPOSE = {"speech.losses.CTCLoss", "speech.losses.FrameCELoss", "speech.decoding.GreedyCTCDecoder"}


def _locate(path: str):
    from hydra.utils import get_object

    return get_object(path)


def validate(cfg: DictConfig) -> DictConfig:
    """Check a composed config before any work is done; returns ``cfg`` unchanged.

    For every node the code will build (a ``_target_`` node, and the ``tts`` / ``vocoder`` sections,
    which are read into dataclasses): keys must be fields of the target (else "did you mean"),
    values must match the fields' type annotations, and the target's config dataclass is built so
    its ``__post_init__`` range checks run, with their messages naming the full key. Nodes of groups
    not in use (``model.tts: null``, ``features.specaugment: null``) are skipped.

    Raises:
        ConfigError: ``config: <key>: <what is wrong>; expected <what>``.
    """
    try:
        plain = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or "?"
        raise ConfigError(f"config: {key}: {_first_line(e)}") from None
    assert isinstance(plain, dict)
    built: dict[str, Any] = {}
    for path, node in _targets(plain):
        built[path] = _check_target(path, node)
    if isinstance(plain.get("model"), dict) and plain["model"].get("tts") is not None and "tts" in plain:
        tts = dict(plain["tts"] or {})
        loss = tts.pop("loss", None)
        _check_dataclass("tts", tts, _locate("speech.train.tts.TtsDataConfig"))
        if loss is not None:
            _check_dataclass("tts.loss", loss, _locate("speech.losses.tts.FastSpeech2LossConfig"))
    if isinstance(plain.get("vocoder"), dict):
        _check_vocoder(plain, built)
    return cfg


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def _targets(node: Any, path: str = ""):
    """(path, node) of every dict with a ``_target_``, outside the sections validated by hand."""
    if isinstance(node, dict):
        if "_target_" in node:
            yield path, node
            return
        for k, v in node.items():
            if not path and k in ("tts", "vocoder"):
                continue
            yield from _targets(v, f"{path}.{k}" if path else str(k))


def _check_target(path: str, node: dict) -> Any:
    target = node["_target_"]
    try:
        obj = _locate(target)
    except Exception as e:  # noqa: BLE001 - an unimportable target, in one line
        raise ConfigError(f"config: {path}._target_: cannot import {target!r} ({_first_line(e)}); expected a "
                          "dotted path to a class or function of the toolkit") from None
    kwargs = {k: v for k, v in node.items() if k not in _HYDRA_KEYS}
    if dataclasses.is_dataclass(obj) and isinstance(obj, type):
        return _check_dataclass(path, kwargs, obj)
    cls = getattr(obj, "config_class", None)  # a factory whose keyword arguments are a dataclass's fields
    if cls is not None:
        sig_params = _signature_params(obj)
        own = {k: v for k, v in kwargs.items() if k in sig_params}
        _check_kwargs(path, own, obj)
        return _check_dataclass(path, {k: v for k, v in kwargs.items() if k not in sig_params}, cls)
    _check_kwargs(path, kwargs, obj)
    if target in _BUILD_AT_COMPOSE:
        try:
            return obj(**kwargs)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"config: {_name_key(_first_line(e), path, obj.__name__, kwargs)}") from None
    return None


def _signature_params(fn) -> dict[str, inspect.Parameter]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return {}
    return {n: p for n, p in sig.parameters.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


def _hints(obj) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj.__init__ if isinstance(obj, type) and not dataclasses.is_dataclass(obj)
                                     else obj)
    except Exception:  # noqa: BLE001 - unresolvable annotations: skip type checks for them
        return {}


def _check_kwargs(path: str, kwargs: dict, fn) -> None:
    """Keyword arguments of a non-dataclass target: known names (unless it takes **kwargs) and types."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    params = _signature_params(fn)
    open_kw = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    hints = _hints(fn)
    for k, v in kwargs.items():
        if k not in params:
            if open_kw:
                continue
            raise ConfigError(f"config: {path}.{k}: no such key; {suggest(k, list(params), lambda c: f'{path}.{c}')}")
        default = params[k].default
        _check_type(f"{path}.{k}", v, hints.get(k, Any), None if default is inspect.Parameter.empty else default)


def _field_default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        try:
            return f.default_factory()  # type: ignore[misc]
        except Exception:  # noqa: BLE001
            return None
    return None


def _check_dataclass(path: str, values: dict, cls, partial: bool = False) -> Any:
    """Keys, types and range checks of a dataclass node; returns the built object (None if ``partial``)."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = _hints(cls)
    for k, v in values.items():
        if k not in fields:
            raise ConfigError(f"config: {path}.{k}: no such key; {suggest(k, list(fields), lambda c: f'{path}.{c}')}")
        tp = hints.get(k, Any)
        sub = _dataclass_of(tp)
        if sub is not None and isinstance(v, dict):
            _check_dataclass(f"{path}.{k}", v, sub, partial=True)
            continue
        _check_type(f"{path}.{k}", v, tp, _field_default(fields[k]))
    if partial:
        return None
    try:
        return cls(**values)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"config: {_name_key(_first_line(e), path, cls.__name__, fields)}") from None


def _dataclass_of(tp) -> type | None:
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return tp
    for a in typing.get_args(tp):
        if isinstance(a, type) and dataclasses.is_dataclass(a):
            return a
    return None




def _name_key(msg: str, path: str, cls_name: str, fields) -> str:
    """Make a constructor's message name the full config key ``path.field``."""
    fields = set(fields)
    if msg.startswith(cls_name + "."):  # FbankConfig.n_mels=0; expected > 0
        return f"{path}.{msg[len(cls_name) + 1:]}"
    if msg.startswith(cls_name + ":") or msg.startswith(cls_name + " "):
        return f"{path}:{msg[len(cls_name) + 1:]}" if msg[len(cls_name)] == ":" else f"{path}: {msg[len(cls_name) + 1:]}"
    if msg.startswith(path + ".") or msg.startswith(path + ":"):
        return msg
    m = re.match(r"([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)(.*)", msg, re.S)
    if m:
        token, rest = m.group(1), m.group(2)
        last = token.rsplit(".", 1)[-1]
        if last in fields and (rest[:1] in (":", "=", " ", "") ):
            return f"{path}.{last}{rest}"
        if "." in token and rest[:1] == ":":  # model.asr: ...
            return f"{path}{rest}"
    return f"{path}: {msg}"


# ---------------------------------------------------------------------------------------- types


def _describe(tp) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        parts = [_describe(a) for a in args if a is not type(None)]
        text = " or ".join(parts)
        return f"{text} or null" if type(None) in args else text
    if tp is bool:
        return "true or false (bool)"
    if tp is int:
        return "a whole number (int)"
    if tp is float:
        return "a number (float)"
    if tp is str:
        return "a string (str)"
    if tp in (list, tuple) or origin in (list, tuple, _AbcSequence):
        if args and args[0] in (int, float, str):
            noun = {int: "whole numbers", float: "numbers", str: "strings"}[args[0]]
            return f"a list of {noun} (list[{args[0].__name__}])"
        if args and typing.get_origin(args[0]) is list:
            return "a list of lists"
        return "a list"
    if tp is dict or origin is dict:
        return "a mapping (dict)"
    return getattr(tp, "__name__", str(tp))


def _type_ok(v: Any, tp) -> bool:
    if tp is Any or tp is inspect.Parameter.empty or isinstance(tp, typing.TypeVar):
        return True
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(v, a) for a in args)
    if tp is type(None):
        return v is None
    if tp is bool:
        return isinstance(v, bool)
    if tp is int:
        return isinstance(v, int) and not isinstance(v, bool)
    if tp is float:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if tp is str:  # numbers are accepted where a name or path is expected (e.g. a folder called 2024)
        return isinstance(v, (str, int, float)) and not isinstance(v, bool)
    if tp in (list, tuple) or origin in (list, tuple, _AbcSequence):
        if not isinstance(v, (list, tuple)):
            return False
        if args and args[-1] is not Ellipsis and origin is not tuple:
            return all(_type_ok(x, args[0]) for x in v)
        return True
    if tp is dict or origin is dict:
        return isinstance(v, dict)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return isinstance(v, dict)
    return True  # anything else (a module, a tensor type): not checked here


def _check_type(key: str, v: Any, tp, default: Any = None) -> None:
    if _type_ok(v, tp):
        return
    if v is None and default is None and tp is not Any:
        return  # annotated without Optional but defaulting to None (e.g. ``periods: list = None``)
    example = f"e.g. {_yaml(default)}" if default is not None else _describe(tp)
    if v is None:
        raise ConfigError(f"config: {key}: null is not allowed; expected {_describe(tp)}, {example}"
                          if default is not None else f"config: {key}: null is not allowed; expected {example}")
    raise ConfigError(f"config: {key}: {_show(v)} is not {_describe(tp)}; expected {example}")


def _yaml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return repr(v)
    return str(v)


# -------------------------------------------------------------------------------------- vocoder

def _check_vocoder(plain: dict, built: dict) -> None:
    """``vocoder``: its dataclass, its trainer overrides (merged over ``trainer``) and generator overrides."""
    voc = dict(plain["vocoder"])
    trainer_over = voc.get("trainer") or {}
    generator_over = voc.get("generator") or {}
    vc = _check_dataclass("vocoder", voc, _locate("speech.train.vocoder.VocoderTrainConfig"))
    if trainer_over and isinstance(plain.get("trainer"), dict) and "_target_" in plain["trainer"]:
        tcls = _locate(plain["trainer"]["_target_"])
        if dataclasses.is_dataclass(tcls):
            _check_dataclass("vocoder.trainer", trainer_over, tcls, partial=True)
            base = {k: v for k, v in plain["trainer"].items() if k not in _HYDRA_KEYS}
            try:
                tcls(**{**base, **trainer_over})
            except (ValueError, TypeError) as e:
                msg = _first_line(e)
                where = "vocoder.trainer" if any(re.search(rf"\b{re.escape(k)}\b", msg) for k in trainer_over) \
                    else "trainer"
                raise ConfigError(f"config: {_name_key(msg, where, tcls.__name__, [f.name for f in dataclasses.fields(tcls)])}") from None
    if isinstance(generator_over, dict):
        gcls = _locate("speech.models.vocoders.HiFiGANConfig")
        _check_dataclass("vocoder.generator", generator_over, gcls, partial=True)
        fbank = built.get("features.fbank")
        tts = plain.get("tts") if isinstance(plain.get("tts"), dict) else {}
        synthesis = (plain.get("model") or {}).get("tts") is not None or bool(tts.get("corpus"))
        if fbank is not None and vc is not None and synthesis:  # the preset at this hop: only where a vocoder is trained
            hifigan_config = _locate("speech.models.vocoders.hifigan.hifigan_config")  # by name, as _target_ is
            over = dict(generator_over)
            if vc.channels:
                over["upsample_initial_channel"] = vc.channels
            try:
                hifigan_config(vc.preset, fbank.hop_length, **over)
            except ValueError as e:
                msg = _first_line(e).replace("hifigan_preset: unknown preset=", "unknown preset ")
                if "preset" in msg:
                    raise ConfigError(f"config: vocoder.preset: {msg}") from None
                raise ConfigError(f"config: {_name_key(msg, 'vocoder.generator', gcls.__name__, over)}") from None
