"""Neural models: ``asr`` (acoustic models), ``layers`` (shared blocks)."""
