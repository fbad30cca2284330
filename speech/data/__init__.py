"""Data: manifests, corpus importers (:mod:`speech.data.prepare`) and batching.

- :class:`Utterance`, :func:`read_manifest`, :func:`write_manifest`, :func:`total_duration`,
  :class:`ManifestError` — JSON-lines manifests (:mod:`speech.data.manifest`);
- :class:`BucketBatchSampler` — length-bucketed, DDP-aware, resumable batch sampler
  (:mod:`speech.data.sampler`; imported on first use so that manifest tools do not load torch).
"""

from speech.data.manifest import ManifestError, Utterance, read_manifest, total_duration, write_manifest

__all__ = ["BucketBatchSampler", "ManifestError", "Utterance", "read_manifest", "total_duration", "write_manifest"]


def __getattr__(name: str):
    if name == "BucketBatchSampler":
        from speech.data.sampler import BucketBatchSampler

        return BucketBatchSampler
    raise AttributeError(f"module 'speech.data' has no attribute {name!r}")
