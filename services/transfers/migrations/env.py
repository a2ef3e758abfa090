"""Alembic environment of the transfers service: the shared body, with this service's tables."""

from shared.migrations import run_env
from transfers.db import Base

run_env(Base.metadata)
