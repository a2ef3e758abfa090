"""Alembic environment of the activities service: the shared body, with this service's tables."""

from activities.db import Base
from shared.migrations import run_env

run_env(Base.metadata)
