"""``speech models``: the models that ship inside the toolkit, by name (:mod:`speech.packages.registry`)."""
from __future__ import annotations

import argparse
import json

from speech.cli import errors

MODELS_HELP = """List the models bundled with the toolkit. Every command that takes --model (or --vocoder)
takes one of these names or a package folder (a folder that exists wins over a name).

examples:
  speech models
  speech transcribe recording.wav --model digits
  speech synthesize "Hello." -o hello.wav              # the default voice
  speech models --task asr --json

Each model's card (data, recipe command, training time, machine, measured numbers, licence) is
card.md in its folder; the folder is shown with --json."""


def print_table(rows: list[tuple[str, ...]]) -> None:
    """Rows of text (a header first) as aligned columns; the last column is left ragged."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1])


def cmd_models(args: argparse.Namespace) -> int:
    # the registry reads JSON only: no torch, so the list answers at once
    from speech.packages.registry import TASK_WORDS, list_models

    found = list_models(args.task)
    if args.json:
        for m in found:
            print(json.dumps({"name": m.name, "task": m.task, "domain": m.domain, "summary": m.summary,
                              "size_mb": round(m.size_mb, 2), "numbers": m.numbers, "default": m.default,
                              "path": str(m.path)}, ensure_ascii=False))
        return errors.OK
    if not found:
        errors.warning("no bundled models are installed" + (f" for task {args.task}" if args.task else ""))
        return errors.OK
    rows = [("NAME", "TASK", "SIZE", "DOMAIN", "MEASURED")]
    for m in found:
        name = m.name + (" (default)" if m.default else "")
        rows.append((name, TASK_WORDS.get(m.task, m.task), f"{m.size_mb:.1f} MB", m.domain, m.measured))
    print_table(rows)
    total = sum(m.size_bytes for m in found)
    print(f"\n{len(found)} models, {total / 1e6:.1f} MB in all; cards: <folder>/card.md (speech models --json "
          "shows the folders)")
    return errors.OK
