"""Alembic environment of the members service: the shared body, with this service's tables."""

from members.db import Base
from shared.migrations import run_env

run_env(Base.metadata)
