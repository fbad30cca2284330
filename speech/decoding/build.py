"""Decoders from decoding configs (config group ``decoding/``): Hydra nodes built, then
:func:`speech.decoding.beam.make_decoder`. Kept apart from the search itself, which the torch-free
runtime uses without OmegaConf."""
from __future__ import annotations

from speech.config import instantiate
from speech.decoding.arpa import ArpaLM
from speech.decoding.beam import BeamSearchConfig, make_decoder
from speech.decoding.greedy import GreedyCTCDecoder


def build_decoder(cfg, tokenizer, lm: ArpaLM | None = None):
    """The decoder a decoding config (config group ``decoding/``) describes, for a model's tokenizer.

    Args:
        cfg: the ``decoding`` node of a composed config (a ``_target_`` and its fields, e.g.
            :func:`speech.pipelines.transcriber.decoding_config`), or a built :class:`BeamSearchConfig` /
            :class:`~speech.decoding.GreedyCTCDecoder`.
        tokenizer: the model's tokenizer (``vocab``, ``blank_id``, ``decode``).
        lm: an already loaded LM to use instead of loading ``cfg.lm`` (e.g. one LM shared by many
            decoders); only for beam search.

    Returns:
        A callable ``(log_probs (B, T, V), lengths (B,)) -> list of B texts``: a
        :class:`~speech.decoding.beam.GreedyTextDecoder` or a :class:`~speech.decoding.beam.CTCPrefixBeamSearch`.

    Raises:
        ValueError / FileNotFoundError: one line naming the ``decoding.*`` key (a blank id the model
        does not use, a missing LM or lexicon file, an LM given to greedy decoding).
    """
    built = cfg if isinstance(cfg, (BeamSearchConfig, GreedyCTCDecoder)) else instantiate(cfg)
    return make_decoder(built, tokenizer, lm)
