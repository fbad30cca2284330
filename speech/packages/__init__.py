"""Model packages: the on-disk format of a trained model and the loaders for each kind.

A package is a directory: ``config.yaml`` (plain data, built only through an allow-list), the
weights, and the files a kind needs beside them (tokenizer, phoneme set, statistics, ``meta.json``).

- :mod:`speech.packages.format` -- reading a package's config and weights safely, the allow-list;
- :mod:`speech.packages.asr` -- recognizers (``speech-asr-package``);
- :mod:`speech.packages.voice` -- FastSpeech2 voices (``speech-tts-package``);
- :mod:`speech.packages.vocoder` -- neural vocoders, and :func:`load_vocoder` for any vocoder by name.

This layer sits above models, features and text and below training and pipelines: both write and
read packages through it, and nothing here imports ``speech.train`` or ``speech.pipelines``.
"""
from speech.packages.asr import AsrPackage, load_asr_package, save_asr_package
from speech.packages.format import PackageError

__all__ = ["AsrPackage", "PackageError", "load_asr_package", "save_asr_package"]
