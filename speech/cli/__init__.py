"""The ``speech`` command line."""
