"""Pure rules of the organisation tree (no I/O)."""
