"""The shape of the house (issue 13): what `lint-imports` cannot see, checked here.

The layer contracts themselves live in pyproject.toml and run as `lint-imports` in the test command;
these tests cover the kernels (installed from kernels/ as speech.kernels, outside the checker's tree)
and the size limits that keep modules readable.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 500
MAX_CLI_LINES = 350
# Single-model files may be longer: one network with its blocks reads best in one place.
SINGLE_MODEL_FILES = {"speech/models/vocoders/hifigan.py", "speech/models/tts/fastspeech2.py"}


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


@pytest.mark.parametrize("path", sorted((ROOT / "kernels").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_kernels_import_only_themselves(path):
    """The kernels are the bottom layer: numpy / numba / torch and each other, nothing else of the toolkit."""
    bad = [f"{path.relative_to(ROOT)}:{line} imports {mod}" for line, mod in _imports(path)
           if mod.split(".")[0] == "speech" and not mod.startswith("speech.kernels")]
    assert not bad, "; ".join(bad)


def _sizes():
    for path in sorted((ROOT / "speech").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        yield rel, len(path.read_text(encoding="utf-8").splitlines())


def test_modules_stay_small():
    too_long = [f"{rel}: {n} lines" for rel, n in _sizes() if n > MAX_LINES and rel not in SINGLE_MODEL_FILES]
    assert not too_long, f"modules over {MAX_LINES} lines (split them by role): " + "; ".join(too_long)


def test_cli_is_thin():
    too_long = [f"{rel}: {n} lines" for rel, n in _sizes() if rel.startswith("speech/cli/") and n > MAX_CLI_LINES]
    assert not too_long, (f"CLI modules over {MAX_CLI_LINES} lines (work belongs in speech/pipelines): "
                          + "; ".join(too_long))


def test_architecture_picture_is_current():
    """docs/architecture.png is drawn from the import graph; redraw it when the graph changes."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("architecture", ROOT / "docs" / "architecture.py")
    arch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(arch)
    live, drawn = arch.import_edges(), arch.recorded_edges()
    added, gone = sorted(set(live) - set(drawn)), sorted(set(drawn) - set(live))
    assert not added and not gone, (f"docs/architecture.png is out of date (new imports {added}, gone {gone}): "
                                    "run python docs/architecture.py")
    rows = {pkg: i for i, (_, pkgs) in enumerate(arch.LAYERS) for pkg in pkgs}
    assert set(rows) >= {p for edge in live for p in edge}, "a package of speech/ is missing from LAYERS"
