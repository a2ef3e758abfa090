"""Alembic environment of the identity service: the shared body, with this service's tables."""

from identity.db import Base
from shared.migrations import run_env

run_env(Base.metadata)
