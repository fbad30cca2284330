"""Small helpers shared by the recipes in recipes/<corpus>/run.py."""
from __future__ import annotations

import os
import platform
import re
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name as ``lscpu`` shows it ("Model name", read from /proc/cpuinfo), or the
    platform's word for it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_line() -> str:
    """CPU model, cores, torch threads and GPU: the machine line of a model card or benchmark."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu_model()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, {gpu}"


def machine_summary() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    return f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads, {gpu}"


def write_results_block(readme: str | Path, block: str, marker: str = "results") -> None:
    """Replace the text between ``<!-- MARKER:start -->`` and ``<!-- MARKER:end -->`` in ``readme``."""
    readme = Path(readme)
    text = readme.read_text()
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    if start not in text or end not in text:
        raise ValueError(f"{readme}: no {start} ... {end} block to fill")
    new = f"{start}\n{block.strip()}\n{end}"
    readme.write_text(re.sub(re.escape(start) + ".*" + re.escape(end), lambda _: new, text, flags=re.S))
