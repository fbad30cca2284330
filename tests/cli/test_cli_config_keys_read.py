"""Every key a shipped config composes is read by the code it configures.

A key that nothing reads is a lie to the user (``text.normalize=false`` once did nothing). For every
experiment (``conf/experiment/*.yaml``) and every option of every other group, each leaf key is traced
to its owner and must be consumed:

- under a ``_target_`` that is a dataclass (or a factory naming its ``config_class``), and in the
  sections code reads into dataclasses by hand (``tts``, ``vocoder``): the key must be a field (what
  :func:`speech.config.validate` checks) AND the field must be read as an attribute
  (``x.field``, ``x["field"]``, ``getattr(x, "field")``, ``x.get("field")``) in a module of
  ``speech/`` or ``recipes/`` that names the owner class (defines, imports or annotates it), or
  through the composed config (``cfg.data.test_manifest``) anywhere; in
  ``__post_init__`` only a read that derives a value counts (a range check alone does not make a
  setting do anything);
- under any other ``_target_`` (a class or function taking keyword arguments): the parameter must be
  used in the callable's body;
- plain keys (``name``, ``output_dir``): read as an attribute somewhere, or interpolated by another key.

A static scan (ast), so the test runs in seconds and needs no data.
"""
from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import textwrap
import typing
from functools import lru_cache
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import speech
from speech.config import compose, config_root

REPO = Path(speech.__file__).resolve().parents[1]
SOURCES = sorted((REPO / "speech").rglob("*.py")) + sorted((REPO / "recipes").rglob("*.py"))

# Sections the code reads into dataclasses without a _target_ (speech.config.validate does the same).
SECTIONS = {
    "tts": "speech.train.tts.TtsDataConfig",
    "tts.loss": "speech.losses.tts.FastSpeech2LossConfig",
    "vocoder": "speech.train.vocoder.VocoderTrainConfig",
    "vocoder.trainer": "speech.train.trainer.TrainerConfig",
    "vocoder.generator": "speech.models.vocoders.HiFiGANConfig",
}


def _locate(path: str):
    from hydra.utils import get_object

    return get_object(path)


class _Reads(ast.NodeVisitor):
    """Names read as attributes / string keys in one module. In ``__post_init__`` only reads that
    derive a value count (``self.subsample = [1] * self.num_layers``), not range checks."""

    def __init__(self):
        self.names: set[str] = set()

    def visit_FunctionDef(self, node):
        if node.name != "__post_init__":
            self.generic_visit(node)
            return
        for n in ast.walk(node):
            if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and n.value is not None:
                self.visit(n.value)

    def visit_Attribute(self, node):
        if isinstance(node.ctx, ast.Load):
            self.names.add(node.attr)
            if isinstance(node.value, ast.Attribute):  # cfg.data.test_manifest -> "data.test_manifest"
                self.names.add(f"{node.value.attr}.{node.attr}")
        self.generic_visit(node)

    def visit_Subscript(self, node):
        if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            self.names.add(node.slice.value)
        self.generic_visit(node)

    def visit_Call(self, node):
        fn = node.func
        name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
        args = node.args[1:2] if name in ("getattr", "hasattr") else node.args[:1] if name in ("get", "pop") else []
        for a in args:
            if isinstance(a, ast.Constant) and isinstance(a.value, str):
                self.names.add(a.value)
        self.generic_visit(node)


@lru_cache(maxsize=None)
def _modules() -> list[tuple[str, set[str]]]:
    """(source text, names read) per module of speech/ and recipes/."""
    out = []
    for p in SOURCES:
        text = p.read_text(encoding="utf-8")
        v = _Reads()
        v.visit(ast.parse(text))
        out.append((text, v.names))
    return out


def _read_where_named(field: str, owner_names: tuple[str, ...]) -> bool:
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, owner_names)) + r")\b")
    return any(field in names and pattern.search(text) for text, names in _modules())


def _read_by_path(path: str) -> bool:
    """``cfg.data.test_manifest``-style access to the composed config (its last two keys) anywhere."""
    return "." in path and _read_anywhere(".".join(path.split(".")[-2:]))


def _read_anywhere(key: str) -> bool:
    return any(key in names for _, names in _modules())


def _params_used(fn) -> set[str]:
    """Parameter names of ``fn`` (or a class's ``__init__``) that its body reads."""
    target = fn.__init__ if inspect.isclass(fn) else fn
    tree = ast.parse(textwrap.dedent(inspect.getsource(target)))
    func = next(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
    return {n.id for stmt in func.body for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _dataclass_fields(cls) -> dict[str, typing.Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name) for f in dataclasses.fields(cls)}


def _nested_dataclass(tp):
    for t in (tp, *typing.get_args(tp)):
        if isinstance(t, type) and dataclasses.is_dataclass(t):
            return t
    return None


def unread_keys(cfg: dict) -> list[str]:
    """Leaf keys of a resolved config that no code reads, each with the reason."""
    interpolated = set(re.findall(r"\$\{\.?([A-Za-z_][\w.]*)\}", "".join(
        p.read_text() for p in config_root().rglob("*.yaml"))))
    problems: list[str] = []

    def walk(node: dict, path: str, owner) -> None:
        """``owner`` of the keys of ``node``: None (plain keys), a dataclass, or ("callable", fn)."""
        if "_target_" in node:
            obj = _locate(node["_target_"])
            cls = obj if dataclasses.is_dataclass(obj) else getattr(obj, "config_class", None)
            owner = cls if cls is not None else ("callable", obj)
            if cls is not None and not dataclasses.is_dataclass(obj):  # a factory: its own parameters too
                own = set(inspect.signature(obj).parameters) & set(node)
                for k in sorted(own - _params_used(obj)):
                    problems.append(f"{path}.{k}: parameter of {node['_target_']} never used")
                node = {k: v for k, v in node.items() if k not in own}
        elif path in SECTIONS:
            owner = _locate(SECTIONS[path])
        fields = _dataclass_fields(owner) if dataclasses.is_dataclass(owner) else {}
        for k, v in node.items():
            if k == "_target_":
                continue
            sub = f"{path}.{k}" if path else k
            if not isinstance(v, dict):
                leaf(sub, k, owner)
                continue
            if k in fields and not _read_where_named(k, (owner.__name__,)):
                problems.append(f"{sub}: field of {owner.__name__} never read")
            walk(v, sub, _nested_dataclass(fields.get(k)))

    def leaf(path: str, key: str, owner) -> None:
        if isinstance(owner, tuple):
            if key not in _params_used(owner[1]):
                problems.append(f"{path}: parameter of {owner[1].__qualname__} never used")
        elif owner is not None:
            if not (_read_where_named(key, (owner.__name__,)) or _read_by_path(path)):
                problems.append(f"{path}: field of {owner.__name__} never read (beyond range checks) in a module "
                                f"that names {owner.__name__}")
        elif not (_read_anywhere(key) or path in interpolated):
            problems.append(f"{path}: no code reads this key")

    walk(cfg, "", None)
    return problems


def _configs() -> list[list[str]]:
    root = config_root()
    runs = [[f"experiment={p.stem}"] for p in sorted((root / "experiment").glob("*.yaml"))]
    for p in sorted(root.rglob("*.yaml")):
        group = p.parent.relative_to(root).as_posix()
        if p.parent != root and group != "experiment":
            runs.append([f"{group}={p.stem}"])
    return runs


@pytest.mark.parametrize("overrides", _configs(), ids=lambda o: o[0])
def test_every_composed_key_is_read(overrides, monkeypatch):
    monkeypatch.setenv("SPEECH_DATA", "/data")
    cfg = OmegaConf.to_container(compose(overrides), resolve=True)
    assert unread_keys(cfg) == []


def test_an_unread_key_is_found():
    cfg = OmegaConf.to_container(compose(["experiment=fsdd"]), resolve=True)
    cfg["colour_of_the_run"] = "blue"                       # a plain key nobody reads
    cfg["decoding"]["blank"] = 0
    assert unread_keys(cfg) == ["colour_of_the_run: no code reads this key"]

    @dataclasses.dataclass
    class KnobConfig:  # a config dataclass with a field no module reads
        knob_nobody_turns: int = 1

        def __post_init__(self):
            assert self.knob_nobody_turns >= 0  # a range check is not a use

    cfg = {"thing": {"_target_": f"{__name__}.KnobConfig", "knob_nobody_turns": 2}}
    globals()["KnobConfig"] = KnobConfig
    try:
        assert unread_keys(cfg) == ["thing.knob_nobody_turns: field of KnobConfig never read (beyond range checks) "
                                    "in a module that names KnobConfig"]
    finally:
        del globals()["KnobConfig"]
