"""Small helpers shared by the recipes in recipes/<corpus>/run.py."""
from __future__ import annotations

import os
import platform
import re
from pathlib import Path


def machine_summary() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    return f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads, {gpu}"


def write_results_block(readme: str | Path, block: str) -> None:
    """Replace the text between ``<!-- results:start -->`` and ``<!-- results:end -->`` in ``readme``."""
    readme = Path(readme)
    text = readme.read_text()
    new = f"<!-- results:start -->\n{block.strip()}\n<!-- results:end -->"
    if "<!-- results:start -->" not in text:
        raise ValueError(f"{readme}: no <!-- results:start --> ... <!-- results:end --> block to fill")
    readme.write_text(re.sub(r"<!-- results:start -->.*<!-- results:end -->", lambda _: new, text, flags=re.S))
