#!/usr/bin/env python
"""Draw docs/architecture.png: the toolkit's layers and the imports between its packages.

    python docs/architecture.py            # redraw after changing what imports what

The picture is drawn from the import graph itself (every ``import`` of the toolkit in speech/ and
kernels/, at module level or inside functions), so it cannot drift from the code: the edge list is
stored in the PNG's metadata and tests/test_layout.py fails when the code's graph differs from it.
The layer order is the one pyproject.toml's import-linter contract enforces.
"""
from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PNG = ROOT / "docs" / "architecture.png"

# Top to bottom; a package may import only from the rows below, and from its own row only where the
# row is marked shared (models, decoding and losses may use each other; so may features, text, audio).
SHARED_ROWS = {"models, decoding, losses", "signals and text"}
LAYERS = [
    ("entry points", ["cli", "recipes"]),
    ("ONNX export, HTTP server", ["export", "serve"]),
    ("training and inference", ["train", "pipelines"]),
    ("torch-free runtime", ["runtime"]),
    ("model packages", ["packages"]),
    ("data", ["data"]),
    ("models, decoding, losses", ["models", "decoding", "losses"]),
    ("signals and text", ["features", "text", "audio"]),
    ("kernels", ["kernels"]),
    ("utilities", ["config", "fileio", "device", "pretrained"]),
    ("range checks", ["ranges"]),
]


def _package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "speech" and len(parts) > 1 else None


def import_edges() -> list[tuple[str, str]]:
    """Sorted (importer, imported) pairs of top-level packages of ``speech`` (speech.kernels included)."""
    files = [(p, "speech." + ".".join(p.relative_to(ROOT / "speech").with_suffix("").parts))
             for p in (ROOT / "speech").rglob("*.py")]
    files += [(p, "speech.kernels." + ".".join(p.relative_to(ROOT / "kernels").with_suffix("").parts))
              for p in (ROOT / "kernels").rglob("*.py")]
    edges = set()
    for path, module in files:
        src = _package_of(module.removesuffix(".__init__"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                dst = _package_of(name)
                if src and dst and dst != src and dst != "conf":
                    edges.add((src, dst))
    return sorted(edges)


def draw(path: Path = PNG) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    edges = import_edges()
    pos, row_of, width = {}, {}, 12.0
    fig, ax = plt.subplots(figsize=(11, 8.5))
    for row, (title, pkgs) in enumerate(LAYERS):
        y = len(LAYERS) - 1 - row
        ax.text(-0.2, y, title, ha="right", va="center", fontsize=10, color="0.35")
        for i, pkg in enumerate(pkgs):
            x = (i + 0.5) * width / len(pkgs)
            pos[pkg] = (x, y)
            row_of[pkg] = title
            ax.add_patch(FancyBboxPatch((x - 1.1, y - 0.22), 2.2, 0.44, boxstyle="round,pad=0.05",
                                        fc="#dbe9f6", ec="#2c5d8a"))
            ax.text(x, y, pkg, ha="center", va="center", fontsize=11, family="monospace")
    for src, dst in edges:
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        wrong = y1 > y0 or (y1 == y0 and row_of[src] not in SHARED_ROWS)
        ax.annotate("", xy=(x1, y1 + 0.27 if y1 < y0 else y1), xytext=(x0, y0 - 0.27 if y1 < y0 else y0),
                    arrowprops=dict(arrowstyle="-|>", color="#c0392b" if wrong else "0.55", lw=1.6 if wrong else 0.8,
                                    alpha=0.9 if wrong else 0.6, connectionstyle="arc3,rad=0.08"))
    ax.text(width / 2, -0.55, "grey: imports down the layers (or within a shared row); red: an import against the "
            "layering (lint-imports fails)", ha="center", fontsize=9, color="0.35")
    ax.set_xlim(-4.2, width + 0.2)
    ax.set_ylim(-0.6, len(LAYERS) - 0.4)
    ax.axis("off")
    ax.set_title("speech: packages by layer; arrows point from the importer to what it imports", fontsize=12)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, metadata={"Description": json.dumps(edges)})
    plt.close(fig)
    return path


def recorded_edges(path: Path = PNG) -> list[tuple[str, str]]:
    """The edge list stored in the PNG's metadata when it was drawn."""
    from PIL import Image

    with Image.open(path) as im:
        return [tuple(e) for e in json.loads(im.text["Description"])]


if __name__ == "__main__":
    print(draw(Path(sys.argv[1]) if len(sys.argv) > 1 else PNG))
