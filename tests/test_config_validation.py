"""Configs are checked when composed: one line naming the key, before any data work."""
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from speech.config import ConfigError, compose, validate


def _error(overrides) -> str:
    with pytest.raises(ConfigError) as e:
        compose(overrides)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("config: "), msg
    return msg


@pytest.mark.parametrize("overrides,expected", [
    # wrong types, named by key with an example of a good value
    (["trainer.lr=abc"], "config: trainer.lr: 'abc' is not a number (float); expected e.g. 0.001"),
    (["trainer.max_epochs=abc"], "config: trainer.max_epochs: 'abc' is not a whole number (int)"),
    (["trainer.max_epochs=3.5"], "config: trainer.max_epochs: 3.5 is not a whole number (int)"),
    (["trainer.progress=maybe"], "config: trainer.progress: 'maybe' is not true or false (bool)"),
    (["trainer.betas=[0.9,x]"], "config: trainer.betas: [0.9, 'x'] is not a list of numbers (list[float])"),
    (["trainer.betas=3"], "config: trainer.betas: 3 is not a list of numbers"),
    (["data.batch_size=1.5"], "config: data.batch_size: 1.5 is not a whole number"),
    (["data.speed_perturb=fast"], "config: data.speed_perturb: 'fast' is not a list of numbers"),
    (["data.cache_features=2"], "config: data.cache_features: 2 is not true or false"),
    (["trainer.lr=null"], "config: trainer.lr: null is not allowed"),
    (["features.fbank.sample_rate=abc"], "config: features.fbank.sample_rate: 'abc' is not a whole number"),
    (["model.asr.utterance_cmn=sometimes"], "config: model.asr.utterance_cmn: 'sometimes' is not true or false"),
    (["model.asr.subsample=2"], "config: model.asr.subsample: 2 is not a list of whole numbers"),
    # ranges: the dataclasses' own checks, and the table for those without one
    (["model.asr.hidden_size=-5"], "config: model.asr.hidden_size: -5 is out of range; expected >= 1"),
    (["model.asr.num_layers=0"], "config: model.asr.num_layers: 0 is out of range"),
    (["model.asr.dropout=1.0"], "config: model.asr.dropout: 1.0 is out of range"),
    (["trainer.lr=-1"], "config: trainer.lr: -1 is out of range"),
    (["trainer.precision=fp8"], "config: trainer.precision: 'fp8'"),
    (["trainer.schedule=cosin"], "config: trainer.schedule: 'cosin' is not a schedule"),
    (["trainer.device=gpu0"], "config: trainer.device: 'gpu0' is not a device"),
    (["trainer.log_every=0"], "config: trainer.log_every: 0 is out of range; expected >= 1"),
    (["data.batch_size=0"], "config: data.batch_size: 0 is out of range; expected >= 1"),
    (["data.dev_fraction=1.5"], "config: data.dev_fraction: 1.5 is out of range"),
    (["features.fbank.n_mels=0"], "config: features.fbank.n_mels"),
    (["features.specaugment.freq_masks=-1"], "config: features.specaugment.freq_masks"),
    (["loss.impl=fast"], "config: loss.impl: unknown CTC implementation 'fast'"),
    (["decoding=beam", "decoding.beam_size=0"], "config: decoding.beam_size: 0 is out of range"),
    (["model/tts=fastspeech2", "model.tts.hidden_size=3"], "config: model.tts.hidden_size"),
    (["model/tts=fastspeech2", "tts.batch_size=0"], "config: tts.batch_size"),
    (["model/tts=fastspeech2", "tts.aligner.dropout=abc"], "config: tts.aligner.dropout: 'abc' is not a number"),
    (["model/tts=fastspeech2", "tts.loss.mel_loss=l3"], "config: tts.loss.mel_loss"),
    (["vocoder.trainer.lr=abc"], "config: vocoder.trainer.lr: 'abc' is not a number"),
    (["vocoder.data.batch_size=0"], "config: vocoder.data.batch_size: 0 is out of range"),
    (["experiment=kathleen", "vocoder.preset=v9"], "config: vocoder.preset: unknown preset 'v9'"),
    # unknown keys and group options: "did you mean", or the list of what there is
    (["trainer.max_epoch=3"], "config: trainer.max_epoch: no such key; did you mean trainer.max_epochs?"),
    (["+trainer.max_epoch=3"], "config: trainer.max_epoch: no such key; did you mean trainer.max_epochs?"),
    (["trainer.zzz=3"], "config: trainer.zzz: no such key; expected one of: accumulate_grad_batches, average_best, betas"),
    (["traner.lr=3"], "config: traner: no such key; did you mean trainer?"),
    (["model.asr.hiden_size=3"], "config: model.asr.hiden_size: no such key; did you mean model.asr.hidden_size?"),
    (["+model.asr.hiden_size=3"], "config: model.asr.hiden_size: no such key; did you mean model.asr.hidden_size?"),
    (["+loss.blnk=0"], "config: loss.blnk: no such key; did you mean loss.blank?"),
    (["model/tts=fastspeech2", "+tts.bach_size=3"], "config: tts.bach_size: no such key; did you mean tts.batch_size?"),
    (["+vocoder.generator.upsample_initial_chanel=8"],
     "config: vocoder.generator.upsample_initial_chanel: no such key; did you mean "
     "vocoder.generator.upsample_initial_channel?"),
    (["trainer=gpuu"], "config: trainer=gpuu: no such option in group trainer; did you mean trainer=gpu? "
                       "(options: cpu, ddp, debug, gpu)"),
    (["experiment=fsd"], "config: experiment=fsd: no such option in group experiment; did you mean experiment=fsdd?"),
    (["experiment=zzz"], "config: experiment=zzz: no such option in group experiment; expected one of: an4, an4_stream, fsdd, fsdd_stream"),
    (["model/tts=fs"], "config: model/tts=fs: no such option in group model/tts"),
    (["trainer.lr"], "config: trainer.lr: cannot parse this override"),
    (["data.root=${nope}"], "config: data.root: "),
])
def test_bad_override_one_line_naming_the_key(overrides, expected):
    assert _error(overrides).startswith(expected)


@pytest.mark.parametrize("experiment", ["fsdd", "an4", "kathleen", "ljspeech"])
def test_shipped_experiments_compose_and_validate(experiment, monkeypatch):
    monkeypatch.setenv("SPEECH_DATA", "/some/where")  # environment interpolations still resolve
    cfg = compose([f"experiment={experiment}"])
    assert validate(cfg) is cfg
    assert str(cfg.output_dir) == f"exp/{experiment}"
    for ov in (["trainer=gpu"], ["trainer=ddp"], ["decoding=beam"], ["loss=ce"], ["features.specaugment=null"]):
        compose([f"experiment={experiment}", *ov])  # device availability is checked when training starts


def test_unchecked_compose_and_late_validate():
    cfg = compose(["trainer.lr=abc"], check=False)
    with pytest.raises(ConfigError, match="trainer.lr"):
        validate(cfg)
    cfg = compose([])
    cfg.model.asr.hidden_size = 0  # edited after composing
    with pytest.raises(ConfigError, match=r"model\.asr\.hidden_size: 0"):
        validate(cfg)


_FIELDS = {  # typed fields across groups: key -> annotation kind
    "trainer.max_epochs": int, "trainer.warmup_steps": int, "trainer.lr": float, "trainer.grad_clip": float,
    "trainer.progress": bool, "data.batch_size": int, "data.dev_fraction": float, "data.cache_features": bool,
    "model.asr.hidden_size": int, "model.asr.dropout": float, "features.fbank.hop_ms": float,
    "features.specaugment.time_masks": int, "vocoder.discriminator_channel_scale": float,
}
_SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(key=st.sampled_from(sorted(_FIELDS)), junk=st.text(string.ascii_letters + string.digits + "_-", max_size=6))
def test_junk_words_are_rejected_naming_the_key(key, junk):
    value = "x" + junk  # a word, never a YAML number / bool / null
    msg = _error([f"{key}={value}"])
    assert msg.startswith(f"config: {key}: '{value}' is not ")
    assert "expected" in msg


@_SETTINGS
@given(key=st.sampled_from(sorted(k for k, t in _FIELDS.items() if t is not float)),
       number=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)
       .filter(lambda f: not f.is_integer()))
def test_fractions_are_rejected_for_whole_numbers_and_bools(key, number):
    msg = _error([f"{key}={number!r}"])
    assert msg.startswith(f"config: {key}: ") and " is not " in msg


@_SETTINGS
@given(size=st.integers(max_value=0, min_value=-10**6),
       key=st.sampled_from(["model.asr.hidden_size", "model.asr.num_layers", "data.batch_size",
                            "trainer.accumulate_grad_batches"]))
def test_sizes_below_one_are_rejected(size, key):
    assert _error([f"{key}={size}"]).startswith(f"config: {key}: {size} is out of range")


def test_cli_train_reports_bad_value_in_one_line_without_data_work(tmp_path, monkeypatch, capsys):
    from speech.cli.main import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", "trainer.lr=abc"]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "trainer.lr" in err[0] and "'abc'" in err[0], err
    assert list(tmp_path.iterdir()) == []  # no manifests, features, checkpoints or logs were written


def test_cli_train_on_a_missing_gpu_is_one_line(tmp_path, monkeypatch, capsys):
    import torch

    from speech.cli.main import main

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the missing-GPU case is tested in tests/train/test_resume_errors.py")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "trainer.device=cuda"]) == 3  # the machine lacks it (speech.cli.errors.MACHINE)
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "trainer.device: cuda requested but CUDA is not available" in err[0], err
    assert list(tmp_path.iterdir()) == []
