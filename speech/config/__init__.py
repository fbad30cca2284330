"""Hydra configuration: compose ``speech.conf`` (the repository's ``conf/``) with overrides, and check it.

Examples::

    cfg = compose(["experiment=fsdd", "trainer.max_epochs=5"])
    model = instantiate(cfg.model.asr, input_dim=80, vocab_size=30)

:func:`compose` runs :func:`validate` on the result, so every entry point (``speech train``,
``speech train-vocoder``, the recipes) learns about a bad value before any data work starts, in one
line that names the key, e.g.::

    config: trainer.lr: 'abc' is not a number (float); expected e.g. 0.001
    config: trainer.max_epoch: no such key; did you mean trainer.max_epochs?
    config: trainer=gpuu: no such option in group trainer; did you mean trainer=gpu? (options: cpu, ddp, debug, gpu)
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from speech.config.check import (
    FRACTION,
    GE0,
    GE1,
    GT0,
    ConfigError,
    check_ranges,
    rule,
    suggest,
    validate,
)

CONFIG_MODULE = "speech.conf"

__all__ = ["FRACTION", "GE0", "GE1", "GT0", "ConfigError", "check_ranges", "compose", "config_root", "instantiate",
           "rule", "to_yaml", "validate"]


def compose(overrides: Sequence[str] = (), config_name: str = "config", check: bool = True) -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with Hydra command-line style overrides.

    With ``check`` (the default) the result goes through :func:`validate`: every value is checked
    against the type annotations and range checks of the code that will use it.

    Raises:
        ConfigError: one line naming the key (or group option) and what was expected.
    """
    overrides = list(overrides)
    try:
        cfg = _compose_raw(overrides, config_name)
    except Exception as e:
        from hydra.errors import HydraException  # loaded by _compose_raw already

        if not isinstance(e, (HydraException, OmegaConfBaseException, ValueError)):
            raise
        raise ConfigError(_explain_compose_error(e, overrides, config_name)) from None
    if check and config_name == "config":
        validate(cfg)
    return cfg


def _compose_raw(overrides: list[str], config_name: str) -> DictConfig:
    # Hydra (~0.15 s to import) only when a config is composed: commands that compose none start faster
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=overrides)


def config_root() -> Path:
    """Folder holding the installed YAML config groups."""
    import speech.conf

    return Path(speech.conf.__file__).parent


def instantiate(node, *args, **kwargs):
    """``hydra.utils.instantiate`` with one-line errors that name the config node."""
    from hydra.utils import instantiate as _instantiate

    try:
        return _instantiate(node, *args, **kwargs)
    except Exception as e:  # noqa: BLE001 - re-raised with the node's target for context
        target = node.get("_target_", "?") if isinstance(node, DictConfig) else "?"
        msg = str(e).splitlines()[0]
        cause = e.__cause__
        while cause is not None:  # Hydra wraps the constructor's error: show the real one
            msg = str(cause).splitlines()[0]
            cause = cause.__cause__
        raise ConfigError(f"config: cannot build {target}: {msg}") from None


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True)


# ------------------------------------------------------------------------------------------------
# Composition errors -> one line with "did you mean"

def _groups() -> dict[str, list[str]]:
    """Config group -> its options (YAML files), e.g. ``{"model/asr": ["bilstm"], ...}``."""
    root = config_root()
    out: dict[str, list[str]] = {}
    for p in root.rglob("*.yaml"):
        if p.parent != root:
            out.setdefault(p.parent.relative_to(root).as_posix(), []).append(p.stem)
    return {g: sorted(v) for g, v in sorted(out.items())}


def _explain_compose_error(e: Exception, overrides: list[str], config_name: str) -> str:
    msg = str(e)
    first = msg.splitlines()[0] if msg else type(e).__name__
    m = re.search(r"Could not find '([^']+)'", msg)
    if m and "/" in m.group(1):  # unknown option of a config group: trainer=gpuu
        group, option = m.group(1).rsplit("/", 1)
        options = _groups().get(group, [])
        hint = suggest(option, options, lambda o: f"{group}={o}")
        listing = f" (options: {', '.join(options)})" if options and hint.startswith("did") else ""
        return f"config: {group}={option}: no such option in group {group}; {hint}{listing}"
    m = re.search(r"Could not override '([^']+)'", msg)
    if m:  # unknown key: trainer.max_epoch=3
        key = m.group(1)
        rest = [o for o in overrides if _override_key(o) != key]
        try:
            base = _compose_raw(rest, config_name)
        except Exception:  # noqa: BLE001 - another override is broken too: report this one plainly
            base = None
        if base is not None:
            return _unknown_key_message(base, key)
        return f"config: {key}: no such key"
    m = re.search(r"Error parsing override '([^']*)'", msg)
    if m:  # trainer.lr (no value)
        detail = next((ln.strip() for ln in msg.splitlines()[1:] if ln.strip()), "")
        return (f"config: {m.group(1)}: cannot parse this override" + (f" ({detail})" if detail else "")
                + "; expected key=value, e.g. trainer.lr=1e-3")
    if "Config group override must be" in msg:  # model/tts=null
        bad = next((o for o in overrides if "=" in o and "/" in o.split("=", 1)[0] or o.endswith("=null")), None)
        if bad is not None:
            group = _override_key(bad)
            options = _groups().get(group, [])
            return (f"config: {bad}: a config group needs one of its options; expected one of: {', '.join(options)}"
                    if options else f"config: {bad}: {first}")
    return f"config: {first}"


def _override_key(override: str) -> str:
    key = override.split("=", 1)[0].strip()
    return key.lstrip("+~")


def _unknown_key_message(cfg: DictConfig, key: str) -> str:
    """``config: a.b.c: no such key; did you mean a.b.d?`` for the first missing part of ``key``."""
    parts = key.split(".")
    node: Any = cfg
    for i, part in enumerate(parts):
        if isinstance(node, DictConfig) and part in node:
            node = node[part]
            continue
        parent = ".".join(parts[:i])
        keys = [str(k) for k in node.keys() if not str(k).startswith("_")] if isinstance(node, DictConfig) else []
        if not parent:  # a top-level name: also offer the config groups
            keys = sorted(set(keys) | {g.split("/")[0] for g in _groups()})
        prefix = f"{parent}." if parent else ""
        where = ".".join(parts[: i + 1])
        return f"config: {where}: no such key; {suggest(part, keys, lambda k: prefix + k)}"
    return f"config: {key}: cannot be overridden"
