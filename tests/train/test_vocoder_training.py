"""HiFi-GAN training plumbing: aligned crops, the adversarial Trainer loop with exact resume, vocoder
packages behind load_vocoder, and `speech vocode`."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from speech.data.audio_mel import AudioMelDataset, collate_audio_mel
from speech.features import tts_fbank
from speech.packages.vocoder import save_vocoder_package
from speech.train.trainer import Trainer, TrainerConfig
from speech.train.vocoder import HiFiGANDiscriminator, HiFiGANTask

HOP = tts_fbank().hop_length


def test_crops_pair_mel_frames_with_their_samples():
    t = 50
    mel = np.repeat(np.arange(t, dtype=np.float32)[:, None], 80, 1)  # frame index in every band
    wav = (np.arange(t * HOP + 100) // HOP).astype(np.float32)  # the frame each sample belongs to
    ds = AudioMelDataset([("u", mel, wav)], HOP, segment_frames=8)
    torch.manual_seed(0)
    starts = set()
    for _ in range(20):
        it = ds[0]
        s = int(it["mel"][0, 0])
        starts.add(s)
        assert it["mel"].shape == (8, 80) and it["wav"].shape == (8 * HOP,)
        assert torch.equal(it["mel"][:, 0], torch.arange(s, s + 8, dtype=torch.float32))
        assert torch.equal(it["wav"], torch.arange(s, s + 8).repeat_interleave(HOP).float())
    assert len(starts) > 5  # random crops
    whole = AudioMelDataset([("u", mel, wav[: t * HOP - 10])], HOP, segment_frames=0)[0]  # short audio padded
    assert whole["wav"].shape == (t * HOP,)
    with pytest.raises(ValueError, match="segment_frames"):
        AudioMelDataset([("u", mel[:4], wav)], HOP, segment_frames=8)


def _tiny_setup(tmp_path, name):
    from speech.models.vocoders import hifigan_generator

    rng = np.random.default_rng(0)
    pairs = []
    for i in range(6):
        wav = (0.3 * np.sin(2 * np.pi * (150 + 40 * i) * np.arange(24 * HOP + 768) / 22050)
               + 0.01 * rng.normal(size=24 * HOP + 768)).astype(np.float32)
        mel = __import__("speech.features.functional", fromlist=["log_mel"]).log_mel(torch.from_numpy(wav), tts_fbank())
        pairs.append((f"u{i}", mel.numpy(), wav))
    train = AudioMelDataset(pairs[:4], HOP, segment_frames=8)
    dev = AudioMelDataset(pairs[4:], HOP, segment_frames=0)
    torch.manual_seed(0)
    gen = hifigan_generator(80, "v3", HOP, upsample_initial_channel=8)
    disc = HiFiGANDiscriminator(channel_scale=1 / 32)
    cfg = TrainerConfig(max_steps=4, max_epochs=0, lr=1e-3, betas=[0.8, 0.99], warmup_steps=0, device="cpu",
                        progress=False, checkpoint_every_steps=1, val_every_steps=2, log_every=1, grad_clip=0.0)
    return gen, disc, train, dev, cfg, tmp_path / name


def test_adversarial_training_resumes_exactly(tmp_path):
    gen, disc, train, dev, cfg, out = _tiny_setup(tmp_path, "full")
    res = Trainer(cfg, HiFiGANTask(disc, tts_fbank()), out).fit(gen, train, dev, collate_audio_mel, 2)
    assert res.steps == 4 and res.best_metric is not None and np.isfinite(res.best_metric)
    ref_g = {k: v.clone() for k, v in gen.state_dict().items()}
    ref_d = {k: v.clone() for k, v in disc.state_dict().items()}
    ckpt = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert {"discriminator", "d_optimizer", "d_scheduler"} <= set(ckpt)
    assert (out / "tensorboard").is_dir()

    gen2, disc2, train2, dev2, cfg2, out2 = _tiny_setup(tmp_path, "interrupted")
    Trainer(cfg2, HiFiGANTask(disc2, tts_fbank()), out2).fit(gen2, train2, dev2, collate_audio_mel, 2, stop_at_step=2)
    gen3, disc3, train3, dev3, _, _ = _tiny_setup(tmp_path, "unused")  # fresh objects, as a new process
    torch.manual_seed(123)  # whatever the RNG now holds, resume restores it
    Trainer(cfg2, HiFiGANTask(disc3, tts_fbank()), out2).fit(gen3, train3, dev3, collate_audio_mel, 2)
    for k, v in gen3.state_dict().items():
        assert torch.equal(v, ref_g[k]), k
    for k, v in disc3.state_dict().items():
        assert torch.equal(v, ref_d[k]), k


def test_mel_pretraining_leaves_the_discriminators_alone(tmp_path):
    gen, disc, train, dev, cfg, out = _tiny_setup(tmp_path, "pre")
    d0 = {k: v.clone() for k, v in disc.state_dict().items()}
    cfg2 = dataclasses.replace(cfg, max_steps=2)
    task = HiFiGANTask(disc, tts_fbank(), adversarial_start_step=2)
    Trainer(cfg2, task, out).fit(gen, train, dev, collate_audio_mel, 2)
    assert not task.adversarial
    assert all(torch.equal(v, d0[k]) for k, v in disc.state_dict().items())
    Trainer(cfg, task, out).fit(gen, train, dev, collate_audio_mel, 2)  # resumed: steps 3-4 are adversarial
    assert task.adversarial
    assert not all(torch.equal(v, d0[k]) for k, v in disc.state_dict().items())
    with pytest.raises(ValueError, match="adversarial_start_step"):
        HiFiGANTask(disc, tts_fbank(), adversarial_start_step=-1)


def test_gan_training_refuses_gradient_accumulation(tmp_path):
    gen, disc, train, dev, cfg, out = _tiny_setup(tmp_path, "acc")
    cfg = dataclasses.replace(cfg, accumulate_grad_batches=2)
    with pytest.raises(ValueError, match="accumulate_grad_batches"):
        Trainer(cfg, HiFiGANTask(disc, tts_fbank()), out).fit(gen, train, dev, collate_audio_mel, 2)


@pytest.fixture(scope="module")
def vocoder_package(tmp_path_factory):
    from speech.models.vocoders import hifigan_generator

    torch.manual_seed(0)
    gen = hifigan_generator(80, "v3", HOP, upsample_initial_channel=16)
    return save_vocoder_package(tmp_path_factory.mktemp("voc") / "model", tts_fbank(),
                                {"preset": "v3", "upsample_initial_channel": 16}, gen.state_dict(), {"steps": 0}), gen


def test_vocoder_package_behind_load_vocoder(vocoder_package):
    from speech.packages.format import PackageError
    from speech.packages.vocoder import load_vocoder

    path, gen = vocoder_package
    voc = load_vocoder(str(path), tts_fbank())
    mel = torch.randn(2, 20, 80) - 5
    wav = voc(mel, torch.tensor([20, 12]))
    assert wav.shape == (2, 20 * HOP)
    assert torch.all(wav[1, 12 * HOP:] == 0)
    with torch.no_grad():
        ref = gen.eval()(mel[:1]).squeeze(1).clamp(-1, 1)
    assert torch.allclose(wav[:1], ref, atol=1e-5)  # weight norm folded: same function
    other = dataclasses.replace(tts_fbank(), f_max=7600.0)
    with pytest.raises(ValueError, match="f_max"):
        load_vocoder(str(path), other)
    with pytest.raises(PackageError, match="vocoder package not found"):
        load_vocoder(str(path.parent / "missing"), tts_fbank())


def test_vocode_command(vocoder_package, tmp_path, capsys):
    import soundfile as sf

    from speech.cli.main import main

    path, _ = vocoder_package
    src = tmp_path / "in.wav"
    sf.write(src, 0.3 * np.sin(2 * np.pi * 220 * np.arange(11025) / 22050), 22050)
    for voc in ("griffin-lim", str(path)):
        out = tmp_path / "out.wav"
        assert main(["vocode", str(src), "-o", str(out), "--vocoder", voc]) == 0
        data, sr = sf.read(out)
        assert sr == 22050 and len(data) == (1 + (11025 - 1024) // HOP) * HOP
        assert "log-mel L1" in capsys.readouterr().out
    np.save(tmp_path / "m.npy", np.zeros((5, 40), np.float32))
    assert main(["vocode", str(tmp_path / "m.npy"), "-o", str(tmp_path / "x.wav")]) == 2
    assert "expected (T, 80)" in capsys.readouterr().err


def test_copy_synthesis_evaluation(data_root, vocoder_package, tmp_path):
    from speech.pipelines.evaluate_tts import evaluate_copy_synthesis

    corpus = data_root / "kathleen"
    uid = "arctic_a0001_1592748574"
    gl = evaluate_copy_synthesis("griffin-lim", corpus, [uid], tmp_path / "gl", recognizer=None, progress=False)
    rand = evaluate_copy_synthesis(str(vocoder_package[0]), corpus, [uid], tmp_path / "rand", recognizer=None,
                                   progress=False)
    assert gl["utterances"] == 1 and (tmp_path / "gl" / "wavs" / f"{uid}.wav").is_file()
    assert gl["mcd_db"] < 1.5 < rand["mcd_db"]  # Griffin-Lim inverts the mel; an untrained generator does not
    with pytest.raises(ValueError, match="not in the corpus"):
        evaluate_copy_synthesis("griffin-lim", corpus, ["nope"], tmp_path / "x", recognizer=None, progress=False)


@pytest.mark.slow
def test_overfitting_one_second_beats_griffin_lim(data_root, tmp_path):
    """The published V3 generator, trained through the Trainer on one 1-second clip (mel L1 first,
    then against narrow discriminators), reproduces its mel better than 32 Griffin-Lim iterations."""
    from speech.audio import load
    from speech.features.functional import log_mel
    from speech.models.vocoders import hifigan_generator
    from speech.models.vocoders.griffin_lim import GriffinLimVocoder

    wav, _ = load(data_root / "kathleen" / "audio" / "arctic_a0001_1592748574.flac", sample_rate=22050)
    wav = wav[11025:11025 + 22050]  # 0.5 s to 1.5 s: speech throughout
    mel = log_mel(torch.from_numpy(wav), tts_fbank())
    t = mel.shape[0]
    target = log_mel(torch.from_numpy(wav[: t * HOP]), tts_fbank())  # what the generated T * hop samples can show

    def l1(audio: torch.Tensor) -> float:
        m = log_mel(audio.float(), tts_fbank())
        n = min(len(m), len(target))
        return float((m[:n] - target[:n]).abs().mean())

    gl = l1(GriffinLimVocoder(tts_fbank())(mel))
    torch.manual_seed(0)
    gen = hifigan_generator(80, "v3", HOP)
    disc = HiFiGANDiscriminator(channel_scale=1 / 32)
    clip = AudioMelDataset([("clip", mel.numpy(), wav)], HOP, segment_frames=0)
    cfg = TrainerConfig(max_steps=600, max_epochs=0, lr=2e-3, betas=[0.8, 0.99], weight_decay=0.0, warmup_steps=0,
                        schedule="cosine", final_lr_ratio=0.05, device="cpu", progress=False,
                        checkpoint_every_steps=10**6, val_every_steps=10**6, log_every=100, grad_clip=0.0)
    with torch.no_grad():
        before = l1(gen.eval()(mel[None]).reshape(-1))
    gen.train()
    task = HiFiGANTask(disc, tts_fbank(), adversarial_start_step=500)
    Trainer(cfg, task, tmp_path / "overfit").fit(gen, clip, None, collate_audio_mel, 1)
    assert task.adversarial  # the last 100 steps trained against the discriminators
    with torch.no_grad():
        after = l1(gen.eval()(mel[None]).reshape(-1))
    print(f"one-second clip, log-mel L1: untrained {before:.3f}, Griffin-Lim {gl:.3f}, after 600 steps {after:.3f}")
    assert after < gl < before, (after, gl, before)
