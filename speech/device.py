"""Device names (``cpu``, ``cuda``, ``cuda:N``, ``auto``) -> torch devices, checked in one line.

Every command and the Trainer go through :func:`resolve_device`, so asking for a GPU this machine
does not have is the same one-line :class:`DeviceError` everywhere (the command line's exit status 3,
"the machine"), raised before any model or data is touched.
"""
from __future__ import annotations

import torch

__all__ = ["DeviceError", "parse_device", "resolve_device"]


class DeviceError(RuntimeError, ValueError):
    """A device that is not on this machine (no CUDA, fewer GPUs) or not a device name at all."""


def resolve_device(name: str | torch.device, local_rank: int = 0, key: str = "--device") -> torch.device:
    """``name`` -> a torch device; ``auto`` picks ``cuda:<local_rank>`` when CUDA is available.

    Args:
        key: what the user set, for the message (``--device``, ``trainer.device``).

    Raises:
        DeviceError: one line naming ``key`` when the device is malformed or missing here.
    """
    name = str(name).strip()
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = parse_device(name, local_rank, key)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"{key}: {name} requested but CUDA is not available on this machine; "
                              + (f"use {key}=cpu or auto" if "." in key else f"use {key} cpu"))
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DeviceError(f"{key}: {device} requested but this machine has {count} GPU(s) "
                              f"(cuda:0..cuda:{count - 1})")
    return device


def parse_device(name: str | torch.device, local_rank: int = 0, key: str = "--device") -> torch.device:
    """The device a name stands for, without asking whether this machine has it (configs for a GPU
    compose on a CPU machine); ``auto`` is not resolved here.

    Raises:
        DeviceError: one line naming ``key`` when the name is not a cpu or cuda device.
    """
    name = str(name).strip()
    try:
        device = torch.device(f"cuda:{local_rank}") if name == "cuda" else torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise DeviceError(f"{key}: {name!r} is not a device; expected auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise DeviceError(f"{key}: {name!r}: this toolkit runs on cpu or cuda devices")
    return device
