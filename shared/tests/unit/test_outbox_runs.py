"""The relay traces rows written together as one publish: runs of one type and one trace."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from shared.outbox import runs_of

# As the relay claims them: the stored trace context as JSON text.
IMPORT = json.dumps({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
OTHER = json.dumps({"traceparent": "00-1af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01"})


def row(n: int, type_: str, trace: str) -> Any:
    return SimpleNamespace(id=n, type=type_, trace_context=trace)


def test_rows_of_one_request_and_type_are_one_run_in_their_order() -> None:
    rows = [
        row(1, "member.created", IMPORT),
        row(2, "member.created", IMPORT),
        row(3, "org.updated", IMPORT),
        row(4, "member.created", OTHER),
        row(5, "member.created", OTHER),
        row(6, "member.created", IMPORT),
    ]
    runs = runs_of(rows)
    assert [[r.id for r in run] for run in runs] == [[1, 2], [3], [4, 5], [6]]
    assert [r.id for run in runs for r in run] == [1, 2, 3, 4, 5, 6]


def test_no_rows_no_runs() -> None:
    assert runs_of([]) == []
