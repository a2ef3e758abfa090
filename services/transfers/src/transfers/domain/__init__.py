"""Pure rules of the transfers service: no I/O."""
