"""Shared drivers for the scripts in ``recipes/<corpus>/run.py``: the voice recipe's stages and helpers
that write results tables into a recipe's README."""
