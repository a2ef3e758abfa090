"""Use cases of the activities service."""
