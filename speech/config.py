"""Hydra configuration: compose ``speech.conf`` (the repository's ``conf/``) with overrides.

Examples::

    cfg = compose(["experiment=fsdd", "trainer.max_epochs=5"])
    model = instantiate(cfg.model.asr, input_dim=80, vocab_size=30)
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from hydra import compose as _compose
from hydra import initialize_config_module
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

CONFIG_MODULE = "speech.conf"


class ConfigError(ValueError):
    """A config that cannot be composed or instantiated; the message names the field."""


def compose(overrides: Sequence[str] = (), config_name: str = "config") -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with Hydra command-line style overrides."""
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            return _compose(config_name=config_name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError(f"config: {str(e).splitlines()[0]}") from None


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
