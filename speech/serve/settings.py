"""The server's limits and knobs (``speech serve --help`` names each one)."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields

API_KEY_ENV = "SPEECH_API_KEY"
"""Environment variable holding the API key when ``--api-key`` is not given."""


@dataclass
class ServeSettings:
    """Limits and queueing of one server. Sizes are checked by :meth:`check` (one line per bad value)."""

    api_key: str | None = None
    """Clients must send ``Authorization: Bearer <key>`` (or ``X-API-Key``) on every API route; None: open."""
    max_upload_mb: float = 25.0
    """Largest request body (an upload, or a speech request's JSON) in MB; larger: 413."""
    max_audio_seconds: float = 600.0
    """Longest audio accepted for transcription, in seconds; longer: 413."""
    max_text_chars: int = 4096
    """Longest text accepted for synthesis, in characters (OpenAI's limit); longer: 400."""
    max_batch: int = 16
    """Most recognition requests run through the model together."""
    batch_wait_ms: float = 10.0
    """How long the first request of a batch waits for others to join it."""
    asr_queue: int = 64
    """Most recognition requests waiting for the model; one more gets 503 (back-pressure)."""
    tts_queue: int = 16
    """Most synthesis requests waiting for the model; one more gets 503."""

    def __post_init__(self):
        if self.api_key is None:
            self.api_key = os.environ.get(API_KEY_ENV) or None

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def check(self) -> "ServeSettings":
        """Raises ValueError naming the first setting out of range."""
        positive = {"max_upload_mb", "max_audio_seconds"}
        at_least_one = {"max_text_chars", "max_batch", "asr_queue", "tts_queue"}
        for f in fields(self):
            value = getattr(self, f.name)
            flag = "--" + f.name.replace("_", "-")
            if f.name in positive and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{flag} {value}: expected a positive number")
            if f.name in at_least_one and not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{flag} {value}: expected a whole number >= 1")
        if not (math.isfinite(self.batch_wait_ms) and 0 <= self.batch_wait_ms <= 1000):
            raise ValueError(f"--batch-wait-ms {self.batch_wait_ms}: expected milliseconds in [0, 1000]")
        if self.api_key is not None and (not self.api_key.strip() or any(c.isspace() for c in self.api_key)):
            raise ValueError("--api-key: expected a key without spaces")
        return self
