"""The relay traces rows written together as one publish (runs of one type and one trace), and
waits for more rows to come only as long as the load calls for."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any, cast

from shared.outbox import OutboxRelay, RelayWakeups, runs_of

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


def test_the_relay_waits_longer_for_a_round_only_while_rounds_are_large() -> None:
    relay = OutboxRelay(
        cast(Any, None), cast(Any, None), "", linger_seconds=0.02, busy_linger_seconds=0.1
    )
    # A lone event, out of a peak: the short wait, so a client's next request finds it applied.
    assert relay.linger_after(0) == relay.linger_after(1) == 0.02
    # A peak's round (the month start's payments): a longer wait, fewer rounds for the events.
    assert relay.linger_after(relay.busy_round) == relay.linger_after(500) == 0.1
    # The peak over: short again.
    assert relay.linger_after(relay.busy_round - 1) == 0.02


def test_a_writer_wakes_the_relay_once_a_window_and_again_after_it() -> None:
    wakeups = RelayWakeups(window_seconds=60)
    first = wakeups.take()
    assert first is not None  # nothing notified yet
    # A payment that starts while the first is still running goes in the round already coming.
    assert wakeups.take() is None
    assert RelayWakeups(window_seconds=0).take() is not None
    passed = RelayWakeups(window_seconds=0.001)
    assert passed.take() is not None
    time.sleep(0.002)
    assert passed.take() is not None


def test_a_window_taken_by_a_write_that_did_not_notify_goes_to_the_next_write() -> None:
    wakeups = RelayWakeups(window_seconds=60)
    refused = wakeups.take()  # a payment of a bill paid already: its statement writes nothing
    assert refused is not None
    wakeups.missed(refused)
    assert wakeups.take() is not None  # the next payment notifies in its place


def test_a_window_given_back_late_leaves_a_later_one_alone() -> None:
    wakeups = RelayWakeups(window_seconds=0.5)
    slow = wakeups.take()
    assert slow is not None
    time.sleep(0.6)
    assert wakeups.take() is not None  # a later write took the next window and notifies
    wakeups.missed(slow)  # the slow one's statement ends without notifying
    assert wakeups.take() is None  # the later write's window still stands


def test_a_turn_keeps_the_window_only_when_its_write_notified() -> None:
    wakeups = RelayWakeups(window_seconds=60)
    with wakeups.turn() as refused:  # its statement wrote nothing: no notification
        assert refused.due
    with wakeups.turn() as paid:  # so the next write is due, and notifies
        assert paid.due
        paid.notified()
    with wakeups.turn() as later:  # inside the window of one that did
        assert not later.due
