from sqlalchemy import MetaData

from shared.migrations import run_env

run_env(MetaData())
