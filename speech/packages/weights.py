"""The weights file of a model package: ``model.safetensors`` (written and read) and ``model.pt`` (read).

Writing (:func:`write_weights`, :func:`write_weights_and_meta`): a state dict becomes one
``model.safetensors`` file -- a little-endian 8-byte header length, a JSON header naming each tensor's
dtype, shape and byte range, then the raw bytes (the ``safetensors`` format). Every tensor is
copied to the CPU as its own contiguous block, so tied (shared) parameters and views are written as
independent tensors. The header's ``__metadata__`` holds ``{"format": "pt", "package": <package
format>}``. The file goes to disk through :func:`speech.fileio.atomic_writer`; a stale ``model.pt``
beside it is removed, so a package folder holds no pickle at all.

Reading (:func:`read_weights`, :func:`build_with_weights`), by the file's name, never by sniffing:

* ``*.safetensors`` is parsed by the ``safetensors`` library, memory-mapped. The header (names,
  shapes, dtypes) is read first, without touching the tensor bytes, so the model is checked
  against it on torch's ``meta`` device before anything is allocated. Anything that is not a valid
  safetensors file (a pickle or ``torch.save`` archive under that name, a truncated file, garbage,
  a header whose sizes do not match the file, a dtype other than bool / integer / float) is one
  :class:`~speech.packages.format.PackageError` line; nothing is ever unpickled.
* ``*.pt`` (packages written before format version 2) is read exactly as before:
  ``torch.load(weights_only=True)`` -- a restricted unpickler that builds tensors and containers only
  -- then checked to be a mapping of names to tensors.
"""
from __future__ import annotations

import contextlib
import json
import re
import warnings
from pathlib import Path
from typing import Callable

import safetensors
import safetensors.torch
import torch

from speech import __version__
from speech.fileio import atomic_write_bytes, atomic_write_text
from speech.packages.format import (
    FORMAT_VERSION,
    LEGACY_WEIGHTS_FILE,
    WEIGHTS_FILE,
    PackageError,
    _one_line,
)

__all__ = ["build_with_weights", "load_weights", "read_weights", "read_weights_header", "write_weights",
           "write_weights_and_meta"]

_EXPECTED_WEIGHTS = "expected tensors saved by `speech train`"

# safetensors dtype names a package may hold (what torch state dicts of the toolkit's models use).
_DTYPES = {"BOOL": torch.bool, "U8": torch.uint8, "I8": torch.int8, "I16": torch.int16, "I32": torch.int32,
           "I64": torch.int64, "F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32,
           "F64": torch.float64}

Spec = tuple[tuple[int, ...], torch.dtype]
"""What the checks need of a tensor: its shape and dtype."""


# ----------------------------------------------------------------------------------------------
# writing


def write_weights(path: str | Path, state: dict[str, torch.Tensor], package_format: str = "") -> Path:
    """Write ``state`` (parameter name -> tensor, any device) as a safetensors file, atomically.

    Each tensor is detached and copied to the CPU as its own contiguous block (tied parameters,
    transposed or sliced views are fine). Raises ``TypeError`` for a non-string name or a value
    that is not a tensor (a state dict is tensors only). Returns ``path``."""
    plain = {}
    for name, value in state.items():
        if not isinstance(name, str):
            raise TypeError(f"write_weights: a {type(name).__name__} key {name!r}; expected parameter names")
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"write_weights: {name!r} is a {type(value).__name__}; expected tensors only")
        plain[name] = value.detach().to("cpu").clone(memory_format=torch.contiguous_format)
    metadata = {"format": "pt", **({"package": package_format} if package_format else {})}
    return atomic_write_bytes(path, safetensors.torch.save(plain, metadata=metadata))


def write_weights_and_meta(out: Path, state: dict, fmt: str, task: str, meta: dict | None) -> Path:
    """Write ``model.safetensors`` (:func:`write_weights`) and ``meta.json`` (format, format version,
    task, toolkit version, ``meta``) into a package folder, each atomically, and remove a
    ``model.pt`` left there by an older version (it would hold stale weights); returns the folder."""
    out = Path(out)
    write_weights(out / WEIGHTS_FILE, state, fmt)
    (out / LEGACY_WEIGHTS_FILE).unlink(missing_ok=True)
    info = {"format": fmt, "format_version": FORMAT_VERSION, "task": task,
            "toolkit_version": __version__, **(meta or {})}
    atomic_write_text(out / "meta.json", json.dumps(info, indent=2) + "\n")
    return out


# ----------------------------------------------------------------------------------------------
# reading: safetensors


def _is_safetensors(path: Path) -> bool:
    return path.suffix == ".safetensors"


def _head(path: Path, n: int) -> bytes:
    """The first ``n`` bytes of a file (b"" when it cannot be read), to say what kind of file it is."""
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def _safetensors_problem(path: Path, e: Exception) -> str:
    """What is wrong with a file the safetensors parser refused, in a few words."""
    head = _head(path, 8)
    if not head:
        return "empty file"
    if head[:1] == b"\x80":
        return "a Python pickle, not a safetensors file (it is never unpickled)"
    if head[:4] == b"PK\x03\x04":
        return "a torch.save archive (pickle), not a safetensors file (it is never unpickled)"
    text = _one_line(str(e).splitlines()[0] if str(e).strip() else type(e).__name__)
    text = re.sub(r"^Error while deserializing header:\s*", "", text)
    text = re.sub(r",? expected one of .*", "", text)[:160]
    if "file not fully covered" in text or "invalid offset" in text or "invalid shape" in text:
        return f"truncated or corrupt: its header's tensor sizes do not match the file ({text})"
    if "header too small" in text or "invalid header length" in text:
        return f"truncated or not a safetensors file ({text})"
    if "header too large" in text:
        return "not a safetensors file (its first 8 bytes give an impossible header length)"
    return f"not a valid safetensors file ({text})"


def _safetensors_error(path: Path, e: Exception) -> PackageError:
    if not path.is_file():
        return PackageError(f"{path}: cannot read ({'not a file' if path.exists() else 'not found'})")
    if isinstance(e, OSError):
        return PackageError(f"{path}: cannot read ({e.strerror or type(e).__name__})")
    return PackageError(f"{path}: {_safetensors_problem(path, e)}; {_EXPECTED_WEIGHTS}")


def _check_dtype(path: Path, name: str, dtype: str) -> torch.dtype:
    if dtype not in _DTYPES:
        raise PackageError(f"{path}: entry {name!r} has dtype {dtype}; expected one of {', '.join(_DTYPES)}")
    return _DTYPES[dtype]


def read_weights_header(path: str | Path) -> dict[str, Spec]:
    """``{name: (shape, dtype)}`` of a weights file. For ``model.safetensors`` only the header is
    read (no tensor bytes); for a legacy ``model.pt`` the whole file is (see :func:`read_weights`)."""
    path = Path(path)
    if not _is_safetensors(path):
        return {k: (tuple(v.shape), v.dtype) for k, v in read_weights(path).items()}
    try:
        with safetensors.safe_open(str(path), framework="pt", device="cpu") as f:
            raw = {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype()) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - SafetensorError, OSError: classified from the file itself
        raise _safetensors_error(path, e) from None
    return {k: (shape, _check_dtype(path, k, dtype)) for k, (shape, dtype) in raw.items()}


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    read_weights_header(path)  # dtypes checked before any tensor is made
    try:
        with safetensors.safe_open(str(path), framework="pt", device="cpu") as f:  # memory-mapped
            return {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # noqa: BLE001
        raise _safetensors_error(path, e) from None


# ----------------------------------------------------------------------------------------------
# reading: legacy model.pt


def _read_torch(path: Path) -> dict[str, torch.Tensor]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4": noise for a refused file
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        raise PackageError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from None
    except Exception as e:  # noqa: BLE001 - classified below from the file itself
        raise PackageError(f"{path}: {_torch_problem(path, e)}; {_EXPECTED_WEIGHTS}") from None
    if not isinstance(state, dict):
        raise PackageError(f"{path}: holds a {type(state).__name__}, not a mapping of parameter names to "
                           f"tensors; {_EXPECTED_WEIGHTS}")
    return state


def _torch_problem(path: Path, e: Exception) -> str:
    head = _head(path, 4)
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


# ----------------------------------------------------------------------------------------------
# reading: both


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A package's weights as ``{name: tensor}`` on the CPU: ``*.safetensors`` through the
    safetensors parser (memory-mapped), anything else (a legacy ``model.pt``) through
    ``torch.load(weights_only=True)``; never a full unpickler. Any failure is one
    :class:`PackageError` line that says what is wrong with the file (torch's own advice about
    ``weights_only`` is never passed on)."""
    path = Path(path)
    state = _read_safetensors(path) if _is_safetensors(path) else _read_torch(path)
    for k, v in state.items():
        if not isinstance(k, str):
            raise PackageError(f"{path}: a {type(k).__name__} key {k!r}; expected parameter names (strings)")
        if not isinstance(v, torch.Tensor):
            raise PackageError(f"{path}: entry {k!r} is a {type(v).__name__}, not a tensor; {_EXPECTED_WEIGHTS}")
    return state


def _kind(dtype: torch.dtype) -> str:
    if dtype == torch.bool:
        return "bool"
    return "float" if dtype.is_floating_point else ("complex" if dtype.is_complex else "integer")


def _check_fit(own: dict[str, Spec], found: dict[str, Spec], path: Path) -> None:
    """One-line PackageError when ``found`` (the file's tensors) does not match the parameter names,
    shapes and kinds of dtype (float / integer / bool) of ``own`` (a model's state dict)."""
    missing = [k for k in own if k not in found]
    unexpected = [k for k in found if k not in own]
    shapes = [f"{k} {found[k][0]} vs {own[k][0]}" for k in own if k in found and found[k][0] != own[k][0]]
    dtypes = [f"{k} {str(found[k][1]).removeprefix('torch.')} vs {str(own[k][1]).removeprefix('torch.')}"
              for k in own if k in found and _kind(found[k][1]) != _kind(own[k][1])]

    def few(xs: list) -> str:  # names come from the file: a control character is shown escaped
        xs = [x if x.isprintable() else repr(x) for x in xs]
        return ", ".join(xs[:3]) + (f" (+{len(xs) - 3} more)" if len(xs) > 3 else "")

    problems = ([f"missing {few(missing)}"] if missing else []) + \
               ([f"unexpected {few(unexpected)}"] if unexpected else []) + \
               ([f"other shapes: {few(shapes)}"] if shapes else []) + \
               ([f"other dtypes: {few(dtypes)}"] if dtypes else [])
    if problems:
        raise PackageError(f"{path}: weights do not fit the model config.yaml describes ({'; '.join(problems)}); "
                           "expected the weights saved with this config")


def _specs(state: dict[str, torch.Tensor]) -> dict[str, Spec]:
    return {k: (tuple(v.shape), v.dtype) for k, v in state.items()}


def load_weights(model: torch.nn.Module, path: str | Path, state: dict[str, torch.Tensor] | None = None
                 ) -> torch.nn.Module:
    """Load a package's weights file (:func:`read_weights`; give the path from
    :func:`speech.packages.format.weights_path`) into ``model``; weights that do not fit (missing /
    unexpected names, other shapes) are a one-line :class:`PackageError`."""
    path = Path(path)
    state = read_weights(path) if state is None else state
    _check_fit(_specs(model.state_dict()), _specs(state), path)
    try:
        model.load_state_dict(state)
    except Exception as e:  # noqa: BLE001
        raise PackageError(f"{path}: cannot load weights ({_one_line(str(e).splitlines()[0])})") from None
    return model


_INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
                   "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
                   "sparse_")


@contextlib.contextmanager
def skip_weight_init():
    """Build modules without drawing their initial weights: ``torch.nn.init``'s fill-in functions
    return their tensor untouched inside this block. For a model whose every parameter is about to be
    replaced by a package's weights (``load_state_dict(strict=True)`` checks that all are), the random
    draw is wasted work; on torch's ``meta`` device it is worse, pulling in the compiler stack
    (``torch._dynamo``, about a second of start-up) for the decomposed ``normal_``."""
    saved = {name: getattr(torch.nn.init, name) for name in _INIT_FUNCTIONS if hasattr(torch.nn.init, name)}
    try:
        for name in saved:
            setattr(torch.nn.init, name, _keep)
        yield
    finally:
        for name, fn in saved.items():
            setattr(torch.nn.init, name, fn)


def _keep(tensor, *args, **kwargs):
    return tensor


def build_with_weights(build: Callable[[], torch.nn.Module], path: str | Path) -> torch.nn.Module:
    """``build()`` a package's model and load its weights file, checking first, without allocating
    anything, that the two agree: the model is built once on torch's ``meta`` device (shapes only)
    and compared with the file's header (safetensors: the header alone is read at this point). A
    config.yaml that describes a model far larger than its weights (``hidden_size: 100000`` beside a
    small weights file) is refused in one line instead of exhausting memory; what a package can make
    the loader allocate is bounded by its weights file."""
    path = Path(path)
    state = None if _is_safetensors(path) else read_weights(path)  # a legacy file is read whole
    header = read_weights_header(path) if state is None else _specs(state)
    try:
        with torch.device("meta"), skip_weight_init():
            skeleton = build()
    except PackageError:
        raise
    except Exception as e:  # noqa: BLE001 - a constructor's complaint, in one line
        raise PackageError(f"{path.parent / 'config.yaml'}: cannot build the model it describes "
                           f"({_one_line(str(e).splitlines()[0]) if str(e) else type(e).__name__})") from None
    _check_fit(_specs(skeleton.state_dict()), header, path)
    del skeleton
    with skip_weight_init():  # every parameter is loaded next (strict), so none is drawn
        model = build()
    return load_weights(model, path, read_weights(path) if state is None else state)
