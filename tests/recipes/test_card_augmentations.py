"""A model card names the augmentations its package's config trained with (speech.recipes.bundle.augment_summary)."""
from pathlib import Path

from speech.recipes.bundle import augment_summary


def write_config(folder: Path, data: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(data)
    return folder


def test_each_switched_on_augmentation_is_named_with_its_values(tmp_path):
    pkg = write_config(tmp_path / "all", "data:\n  noise_snr_db: [5, 30]\n  noise_prob: 0.25\n  tilt_db: 15.0\n"
                       "  eq_db: 6.0\n  lowpass_hz: [1500, 4000]\n  lowpass_prob: 0.5\n  vtlp: [0.9, 1.1]\n"
                       "  trim_edges: 0.06\n")
    text = augment_summary(pkg)
    for part in ("noise at 5-30 dB SNR on 25% of the items", "tilt of up to +-15 dB", "colouring of up to +-6 dB",
                 "low-pass at 1500-4000 Hz on 50% of the items", "vocal tract length perturbation 0.9-1.1",
                 "up to 60 ms cut from each end"):
        assert part in text, (part, text)


def test_nothing_switched_on_says_nothing(tmp_path):
    off = write_config(tmp_path / "off", "data:\n  noise_snr_db: []\n  tilt_db: 0.0\n  eq_db: 0.0\n  lowpass_hz: []\n"
                       "  vtlp: []\n  trim_edges: 0.0\n")
    assert augment_summary(off) == ""
    assert augment_summary(write_config(tmp_path / "none", "model: {}\n")) == ""


def test_the_bundled_models_cards_match_their_configs():
    from speech.pretrained import pretrained_path

    for name in ("an4", "digits"):
        folder = pretrained_path(name)
        assert augment_summary(folder) in (folder / "card.md").read_text()
