"""Use cases of the fees service, by topic: fee profiles (profiles.py)."""

PRODUCER = "fees"
