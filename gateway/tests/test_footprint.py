"""The gateway has no database, and its process must not carry a database library: SQLAlchemy and
asyncpg cost it about 20 MiB of its 120 MiB budget (issue 6)."""

from __future__ import annotations

import subprocess
import sys


def test_the_gateway_process_loads_no_database_library() -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, gateway.main; "
            "print(' '.join(m for m in ('sqlalchemy', 'asyncpg', 'alembic') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert loaded == []
