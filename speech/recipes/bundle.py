"""The recipes' ``--export-bundled`` stage: a trained package -> ``speech/pretrained/<name>`` with its card.

Every bundled model is measured twice, as trained (float32) and as shipped (weight matrices in
float16, :func:`speech.packages.bundle.half_state`), on the same held-out data; the card shows both
and the ``bundled`` section of ``meta.json`` keeps the shipped model's numbers, which
``tests/pretrained`` re-measure.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from speech.packages.bundle import bundle_package
from speech.packages.registry import TASK_WORDS, list_models
from speech.pretrained import PRETRAINED_DIR, pretrained_dir
from speech.recipes.common import machine_line, write_results_block

BUNDLE_BUDGET_MB = 40.0
"""All bundled models together stay under this (issue 14); the export warns when they do not."""


@dataclass
class Card:
    """What ``card.md`` says about a bundled model."""

    name: str
    kind: str
    """What :mod:`speech.packages.registry` calls its task: "asr", "tts" or "g2p"."""
    title: str
    task: str
    """The task in words, with the model's architecture."""
    domain: str
    summary: str
    data: str
    """Corpus, split, amount."""
    licence: str
    """Licence of the training data (and of the model, which follows it)."""
    command: str
    """The recipe command that reproduces the folder."""
    training: str
    """Training time and steps, e.g. ``34.4 min, 2052 steps``."""
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    """(measurement, as trained float32, as shipped float16)."""
    notes: list[str] = field(default_factory=list)
    usage: str = ""

    def render(self, size_mb: float, machine: str) -> str:
        lines = [f"# {self.name}: {self.title}", "", self.summary, "",
                 "| | |", "|---|---|",
                 f"| task | {self.task} |", f"| domain | {self.domain} |", f"| training data | {self.data} |",
                 f"| data licence | {self.licence} |", f"| made by | `{self.command}` |",
                 f"| training | {self.training} |", f"| machine | {machine} |",
                 f"| size | {size_mb:.1f} MB (weight matrices in float16) |",
                 f"| exported | {time.strftime('%Y-%m-%d')} |", "",
                 "## Measured", "", "| measurement | float32 (as trained) | float16 (as shipped) |", "|---|---|---|"]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in self.rows]
        if self.notes:
            lines += [""] + [f"- {n}" for n in self.notes]
        if self.usage:
            lines += ["", "## Use", "", "```bash", self.usage.strip(), "```"]
        return "\n".join(lines) + "\n"


def folder_mb(p: Path) -> float:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) / 1e6


def export_bundled(src: str | Path, card: Card, *, numbers: dict, metrics: dict,
                   decoding: dict | None = None, extra_files: dict | None = None) -> Path:
    """Write ``src`` as the bundled model ``card.name`` with its card and headline numbers; prints the
    total size of the bundle (a warning beyond :data:`BUNDLE_BUDGET_MB`). Returns the folder."""
    dest = bundle_package(src, card.name, task=card.kind, domain=card.domain, summary=card.summary,
                          numbers=numbers, metrics=metrics, decoding=decoding,
                          extra_files=extra_files, card=lambda folder: card.render(folder_mb(folder), machine_line()))
    total = folder_mb(pretrained_dir())
    note = "" if total <= BUNDLE_BUDGET_MB else f" - OVER the {BUNDLE_BUDGET_MB:.0f} MB budget"
    print(f"bundled {card.name}: {dest} ({folder_mb(dest):.1f} MB); all bundled models: {total:.1f} MB{note}")
    readme = PRETRAINED_DIR.parents[1] / "README.md"
    if pretrained_dir() == PRETRAINED_DIR and readme.is_file():  # a source checkout: its README lists them
        write_results_block(readme, bundle_table(), marker="bundled-models")
    return dest


def bundle_table() -> str:
    """The README's table of the bundled models (name, task, domain, size, numbers as shipped, card)."""
    models = list_models()
    rows = ["| name | task | domain | size | measured (as shipped) | card |", "|---|---|---|---|---|---|"]
    for m in models:
        default = " (default voice)" if m.default else ""
        rows.append(f"| `{m.name}`{default} | {TASK_WORDS.get(m.task, m.task)} | {m.domain} | {m.size_mb:.1f} MB | "
                    f"{m.measured} | [card](speech/pretrained/{m.name}/card.md) |")
    total = sum(m.size_bytes for m in models) / 1e6
    rows.append(f"\n{len(models)} models, {total:.1f} MB in all (budget {BUNDLE_BUDGET_MB:.0f} MB).")
    return "\n".join(rows)


def half_copy(src: str | Path, out: str | Path) -> Path:
    """A float16-weights copy of the package ``src`` at ``out`` (not bundled): what is measured
    before the card is written."""
    out = Path(out)
    return bundle_package(src, out.name, task="tmp", domain="", summary="", numbers={}, card="",
                          root=out.parent)


def augment_summary(package: str | Path) -> str:
    """The training-time augmentations the ``data`` section of a package's config switched on, in words,
    for its card ("" when none; speed perturbation and bit-depth copies are the card's data line's business)."""
    data = OmegaConf.load(Path(package) / "config.yaml").get("data") or {}
    parts = []
    if data.get("noise_snr_db"):
        low, high = data.noise_snr_db
        parts.append(f"white, pink or brown noise at {low:g}-{high:g} dB SNR on {100 * data.noise_prob:.0f}% of "
                     "the items")
    if data.get("tilt_db"):
        parts.append(f"a random microphone tilt of up to +-{data.tilt_db:g} dB")
    if data.get("eq_db"):
        parts.append(f"a smooth random colouring of up to +-{data.eq_db:g} dB")
    if data.get("lowpass_hz"):
        low, high = data.lowpass_hz
        parts.append(f"a low-pass at {low:g}-{high:g} Hz on {100 * data.get('lowpass_prob', 0.5):.0f}% of the items")
    if data.get("vtlp"):
        low, high = data.vtlp
        parts.append(f"vocal tract length perturbation {low:g}-{high:g}")
    if data.get("trim_edges"):
        parts.append(f"up to {1000 * data.trim_edges:.0f} ms cut from each end")
    return "training items augmented anew each time: " + ", ".join(parts) if parts else ""


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())
