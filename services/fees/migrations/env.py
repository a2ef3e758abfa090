"""Alembic environment of the fees service: the shared body, with this service's tables."""

from fees.db import Base
from shared.migrations import run_env

run_env(Base.metadata)
