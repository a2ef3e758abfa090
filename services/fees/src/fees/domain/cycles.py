"""Splitting the province into chunks of branches for the month start (每月团费收缴名单).

A chunk is one `GenerateBills` command: one worker writes its bills in one set-based statement
and one transaction (shared.chunks). Chunks are cut by member count, so that a province of
50,000 branches of very different sizes gives chunks of about the same work.
"""

from __future__ import annotations

# ~20,000 bills a transaction: seconds of work, small enough to redo after a crash.
CHUNK_MEMBERS = 20_000
