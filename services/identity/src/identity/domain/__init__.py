"""Pure rules of accounts: passwords, lockout, one-time codes (no I/O)."""
