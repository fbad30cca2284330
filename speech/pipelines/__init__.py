"""Pipelines: run trained model packages on files and yield results or per-item failures.

- :mod:`speech.pipelines.transcriber` -- :class:`Transcriber`, :class:`Transcript`;
- :mod:`speech.pipelines.synthesizer` / :mod:`speech.pipelines.synthesis` -- the Synthesizer, files and batches;
- :mod:`speech.pipelines.alignment`, :mod:`speech.pipelines.evaluate_asr`, :mod:`speech.pipelines.evaluate_tts`,
  :mod:`speech.pipelines.vocode`;
- :mod:`speech.pipelines.results` -- :class:`Failure`, what each yields for an input it could not process.

Import from the modules: this ``__init__`` stays empty so that synthesis does not load recognition
(and Hydra) and recognition does not load synthesis.
"""
