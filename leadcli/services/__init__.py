"""Use cases: what each command does, in plain Python over the store port (no I/O of their own)."""
