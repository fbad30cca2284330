"""Every config in conf/ composes, and every ``_target_`` in it instantiates."""

import pytest
from omegaconf import DictConfig, OmegaConf

from speech.config import ConfigError, compose, config_root, instantiate

ROOT = config_root()
GROUPS = {  # group -> options found on disk
    str(p.parent.relative_to(ROOT)): sorted(q.stem for q in p.parent.glob("*.yaml"))
    for p in ROOT.rglob("*.yaml") if p.parent != ROOT
}


def _instantiate_all(node, where="") -> list[str]:
    """Instantiate every node that has a _target_ (with the runtime arguments the code passes); their paths."""
    built: list[str] = []
    if isinstance(node, DictConfig):
        if "_target_" in node:
            kwargs = {}
            if where == "model.asr":
                kwargs = dict(input_dim=80, vocab_size=30)
            elif where == "model.tts":
                kwargs = dict(vocab_size=75, n_mels=80)
            obj = instantiate(node, **kwargs)
            assert obj is not None
            return [where]
        for k in node:
            built += _instantiate_all(node[k], f"{where}.{k}" if where else str(k))
    return built


def test_config_groups_exist():
    for g in ["data", "features", "model/asr", "loss", "decoding", "trainer", "experiment"]:
        assert GROUPS.get(g), f"config group {g}/ is empty"


@pytest.mark.parametrize("group,option", [(g, o) for g, opts in sorted(GROUPS.items()) for o in opts])
def test_every_option_composes_and_instantiates(group, option):
    key = "experiment" if group == "experiment" else group
    cfg = compose([f"{key}={option}"])
    OmegaConf.resolve(cfg)
    built = set(_instantiate_all(cfg))
    assert {"data", "features.fbank", "model.asr", "loss", "decoding", "trainer"} <= built, built
    assert ("model.tts" in built) == (cfg.model.get("tts") is not None)


def test_overrides_reach_the_objects():
    cfg = compose(["experiment=fsdd", "model.asr.hidden_size=24", "trainer.max_epochs=3"])
    model = instantiate(cfg.model.asr, input_dim=cfg.features.fbank.n_mels, vocab_size=12)
    assert model.cfg.hidden_size == 24
    assert instantiate(cfg.trainer).max_epochs == 3
    assert instantiate(cfg.features.fbank).sample_rate == 8000  # set by the fsdd experiment


def test_bad_configs_give_one_line_errors():
    with pytest.raises(ConfigError, match="experiment"):
        compose(["experiment=does_not_exist"])
    with pytest.raises(ConfigError):
        compose(["trainer.no_such_key=1"])
    cfg = compose([])
    cfg.model.asr.hidden_size = -1
    with pytest.raises(ConfigError, match="hidden_size"):
        instantiate(cfg.model.asr, input_dim=80, vocab_size=10)
    with pytest.raises(ConfigError, match="trainer.precision") as e:  # checked when composed
        compose(["trainer.precision=fp8"])
    assert "\n" not in str(e.value)
    cfg = compose(["trainer.precision=fp8"], check=False)  # unchecked: instantiate still names the field
    with pytest.raises(ConfigError, match="precision") as e:
        instantiate(cfg.trainer)
    assert "\n" not in str(e.value)
