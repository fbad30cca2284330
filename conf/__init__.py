"""Hydra configuration groups, installed as ``speech.conf`` (see ``speech.config``)."""
