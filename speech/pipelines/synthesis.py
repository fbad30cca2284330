"""Synthesis jobs with a torch voice: :func:`open_synthesizer` loads a voice package (the bundled
default voice without a model) and its vocoder; the jobs themselves -- one text to a file or a
stream, a TSV / JSON-lines batch to a folder -- are :mod:`speech.runtime.synthesis_batch`'s,
shared with the ONNX runtime and importable from here as before.

Example::

    synth = open_synthesizer()                       # the default voice; or a name / package folder
    synthesize_to_file(synth, "Hello world.")        # -> hello_world.wav (hello_world-2.wav if taken)
    batch = SynthesisBatch.read("prompts.jsonl")
    for r in batch.run(synth, "wavs/", sentence_silence=0.3):
        print(r.error if isinstance(r, Failure) else r.path)
    print(batch.summary())
"""
from __future__ import annotations

from speech.packages.registry import default_voice
from speech.packages.vocoder import load_vocoder
from speech.packages.voice import load_tts_package
from speech.pipelines.synthesizer import Synthesizer
from speech.runtime.synthesis_batch import (  # noqa: F401 - the shared jobs, importable from here
    SAFE_ID,
    BatchLine,
    SynthesisBatch,
    Written,
    default_output_name,
    synthesize_to_file,
    synthesize_to_stream,
    wav_bytes,
)

__all__ = ["BatchLine", "SynthesisBatch", "Written", "default_output_name", "open_synthesizer",
           "synthesize_to_file", "synthesize_to_stream", "wav_bytes"]


def open_synthesizer(model=None, vocoder: str = "griffin-lim", device: str = "cpu", gl_iters: int = 32) -> Synthesizer:
    """A :class:`Synthesizer` for a voice (a package folder, a bundled voice's name, or None for the
    default voice) with its vocoder on ``device`` (``vocoder``: ``griffin-lim`` with ``gl_iters``
    iterations, or a vocoder package folder or name).

    Raises:
        PackageError: ``model`` or ``vocoder`` is not a package, e.g. an ONNX export (it runs with ``--runtime onnx``).
    """
    pkg = load_tts_package(default_voice() if model is None else model, device)
    voc = load_vocoder(vocoder, pkg.fbank, device=device, n_iter=gl_iters)
    return Synthesizer(pkg, vocoder=voc, device=device)
