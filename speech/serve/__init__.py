"""``speech serve``: an HTTP server for the toolkit's recognizers and voices, shaped like OpenAI's audio
API (``/v1/audio/transcriptions``, ``/v1/audio/speech``, ``/v1/models``), with ``/healthz``,
``/metrics`` and a web page at ``/``. Needs the ``serve`` extra (FastAPI, uvicorn, python-multipart).

Layout: :mod:`~speech.serve.app` (routes), :mod:`~speech.serve.models` (what is served),
:mod:`~speech.serve.batching` (the bounded queue that batches requests), :mod:`~speech.serve.jobs`
(what the model worker runs), :mod:`~speech.serve.audio` (uploads in, audio out),
:mod:`~speech.serve.formats` (transcription responses), :mod:`~speech.serve.guard` (API key, size
limit, metrics), :mod:`~speech.serve.metrics`, :mod:`~speech.serve.settings`; ``static/`` holds the page.
"""
