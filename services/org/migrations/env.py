"""Alembic environment of the org service: the shared body, with this service's tables."""

from org.db import Base
from shared.migrations import run_env

run_env(Base.metadata)
