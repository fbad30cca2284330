"""Model packages: the on-disk format of a trained model and the loaders for each kind.

A package is a directory: ``config.yaml`` (plain data, built only through an allow-list), the
weights ``model.safetensors``, and the files a kind needs beside them (tokenizer, phoneme set,
statistics, ``meta.json``). Packages written before format version 2 hold ``model.pt`` (a
``torch.save`` state dict) instead; they still load (``torch.load(weights_only=True)``), and
``model.safetensors`` is preferred where both exist. Nothing in a package is ever unpickled.

- :mod:`speech.packages.format` -- the folder and its ``config.yaml``: reading it safely, the allow-list;
- :mod:`speech.packages.weights` -- the weights file: safetensors written and read, legacy ``model.pt`` read;
- :mod:`speech.packages.asr` -- recognizers (``speech-asr-package``);
- :mod:`speech.packages.voice` -- FastSpeech2 voices (``speech-tts-package``);
- :mod:`speech.packages.vocoder` -- neural vocoders, and :func:`load_vocoder` for any vocoder by name.

This layer sits above models, features and text and below training and pipelines: both write and
read packages through it, and nothing here imports ``speech.train`` or ``speech.pipelines``.
- :mod:`speech.packages.registry` -- bundled models by name (JSON only: listing them needs no torch);
- :mod:`speech.packages.bundle` -- a trained package turned into a bundled one (float16, card).

Import from the modules themselves: this ``__init__`` stays empty so that ``speech models`` and the
name lookups do not pay for torch.
"""
