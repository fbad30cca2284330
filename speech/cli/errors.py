"""The command line's one error boundary: any exception that reaches it becomes one line on stderr
and an exit status that says what kind of failure it was.

Exit statuses (also in ``speech --help`` and the README)::

    0    done
    1    done, but some inputs of a batch failed (each was reported on its own line)
    2    bad input: options, config keys, files, audio, text, manifests, model packages
    3    the machine: out of memory, no such device (CUDA), disk full, permission denied
    4    an internal error (a bug): the line says so; ``--debug`` shows the traceback
    130  interrupted (Ctrl-C)

``--debug`` (or ``SPEECH_DEBUG=1`` in the environment) prints the full traceback after the line.
Everything printed is passed through :func:`printable` first, so control characters in a file
name or a text (a newline, an escape sequence) cannot break a line or drive the terminal.
"""
from __future__ import annotations

import errno
import os
import sys
import traceback

OK, BATCH_FAILED, BAD_INPUT, MACHINE, INTERNAL, INTERRUPTED = 0, 1, 2, 3, 4, 130

EXIT_STATUS_HELP = """exit status:
  0    done
  1    done, but some inputs of a batch failed (each reported on its own line)
  2    bad input: options, config keys, files, audio, text, manifests, model packages
  3    the machine: out of memory, no such device (CUDA), disk full, permission denied
  4    internal error (a bug: please report it with the output of --debug)
  130  interrupted
--debug (or SPEECH_DEBUG=1) shows the traceback of an error."""

_MACHINE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.ENOMEM, errno.EACCES, errno.EPERM, errno.EROFS, errno.EMFILE,
                   errno.ENFILE}


def printable(text: str) -> str:
    """``text`` with control characters (C0, DEL, C1, line and paragraph separators) written as
    escapes (``\\n``, ``\\x1b``), so that it prints as one harmless line."""
    out = []
    for ch in str(text):
        o = ord(ch)
        if ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20 or o == 0x7F or 0x80 <= o < 0xA0:
            out.append(f"\\x{o:02x}")
        elif o in (0x2028, 0x2029):
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    return "".join(out)


def debug_enabled(flag: bool = False) -> bool:
    return bool(flag) or os.environ.get("SPEECH_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def error(msg: str) -> None:
    """One ``speech: error: ...`` line on stderr (control characters escaped)."""
    print(f"speech: error: {printable(msg)}", file=sys.stderr, flush=True)


def warning(msg: str) -> None:
    """One ``speech: warning: ...`` line on stderr (control characters escaped)."""
    print(f"speech: warning: {printable(msg)}", file=sys.stderr, flush=True)


def first_line(e: BaseException) -> str:
    """The first non-blank line of an exception's message, or its type name."""
    for line in str(e).splitlines():
        if line.strip():
            return line.strip()
    return type(e).__name__


def _user_error_types() -> tuple[type, ...]:
    """Exceptions whose message is written for the user: they are bad input (status 2)."""
    types: list[type] = [ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError, UnicodeError]
    for mod, name in (("speech.audio", "AudioError"), ("speech.config", "ConfigError"),
                      ("speech.packages.format", "PackageError")):
        m = sys.modules.get(mod)  # a class that was never imported cannot have been raised
        if m is not None and hasattr(m, name):
            types.append(getattr(m, name))
    return tuple(types)


_EXTRA_OF = {"torch": "torch", "torchaudio": "torch", "omegaconf": "torch", "hydra": "torch", "safetensors": "torch",
             "librosa": "torch", "numba": "torch", "matplotlib": "torch", "onnx": "export", "onnxruntime": "runtime",
             "fastapi": "serve", "starlette": "serve", "uvicorn": "serve", "multipart": "serve", "python_multipart": "serve"}
"""A missing module -> the extra that installs it (the runtime-only install lacks torch's)."""


def classify(e: BaseException) -> tuple[int, str]:
    """(exit status, one line) for an exception that reached the command line."""
    if isinstance(e, KeyboardInterrupt):
        return INTERRUPTED, "interrupted"
    dev = sys.modules.get("speech.device")
    if dev is not None and isinstance(e, dev.DeviceError):
        return MACHINE, first_line(e)
    if isinstance(e, ModuleNotFoundError) and (e.name or "").split(".")[0] in _EXTRA_OF:
        extra = _EXTRA_OF[(e.name or "").split(".")[0]]
        return BAD_INPUT, (f"this needs {e.name}, which is not installed: pip install 'speech[{extra}]'"
                           + (" (or run an ONNX export with --runtime onnx)" if extra == "torch" else ""))
    if isinstance(e, MemoryError):
        return MACHINE, "out of memory; try a smaller --batch-size, shorter --max-segment or a machine with more memory"
    if type(e).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError, without importing torch here
        return MACHINE, f"out of GPU memory ({first_line(e)}); try a smaller batch"
    if isinstance(e, OSError) and not isinstance(e, (FileNotFoundError, IsADirectoryError, NotADirectoryError)):
        what = e.strerror or first_line(e)
        where = f"{e.filename}: " if getattr(e, "filename", None) and not what.startswith(str(e.filename)) else ""
        return (MACHINE if e.errno in _MACHINE_ERRNOS else BAD_INPUT), f"{where}{what}"
    if isinstance(e, FileNotFoundError) and getattr(e, "filename", None) and e.strerror:
        name = str(e.filename)
        return BAD_INPUT, e.strerror if e.strerror.startswith(name) else f"{name}: {e.strerror}"
    if isinstance(e, _user_error_types()):
        return BAD_INPUT, first_line(e)
    msg = first_line(e)
    return INTERNAL, (f"internal error: {type(e).__name__}: {msg} (a bug in the toolkit: rerun with --debug "
                      "for the traceback and report it)")


def run_guarded(func, args, debug: bool = False) -> int:
    """Call ``func(args)``; any exception becomes one line on stderr and its exit status."""
    try:
        return int(func(args) or 0)
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - this is the boundary
        code, line = classify(e)
        error(line)
        if debug_enabled(debug) and code != INTERRUPTED:
            traceback.print_exc(file=sys.stderr)
        return code


def guarded_main(main, *args, **kwargs) -> int:
    """The boundary for scripts with their own ``main`` (recipes, benchmarks): ``sys.exit(guarded_main(main))``.
    The traceback is shown when ``SPEECH_DEBUG=1``."""
    return run_guarded(lambda _: main(*args, **kwargs), None)
