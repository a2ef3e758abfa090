"""A remittance's span reaches the trace of everything it carries, however many: a span keeps
only 128 links, a county carries one remittance per branch, a branch one payment a member."""

from __future__ import annotations

import random

from opentelemetry.trace import SpanContext, TraceFlags

from fees.service.remittances import MAX_LINKS, remit_span
from shared.telemetry import in_memory_tracing


def carried(n: int) -> list[SpanContext]:
    rng = random.Random(n)
    return [
        SpanContext(rng.getrandbits(128), rng.getrandbits(64), True, TraceFlags(1))
        for _ in range(n)
    ]


def test_every_carried_trace_is_linked_from_the_remittances_trace() -> None:
    provider, spans = in_memory_tracing()
    payments = carried(300)
    with remit_span(provider.get_tracer("t"), payments, {"fee.remittance_id": "r"}) as span:
        remittance_trace = span.get_span_context().trace_id
    finished = spans.get_finished_spans()
    assert {s.context.trace_id for s in finished} == {remittance_trace}
    assert all(len(s.links) <= MAX_LINKS for s in finished)
    linked = [link.context.trace_id for s in finished for link in s.links]
    assert sorted(linked) == sorted(p.trace_id for p in payments)  # each once
    [remit] = [s for s in finished if s.name == "fee.remit"]
    assert len(remit.links) == MAX_LINKS
    assert all(s.parent.span_id == remit.context.span_id for s in finished if s is not remit)


def test_a_small_remittance_is_one_span() -> None:
    provider, spans = in_memory_tracing()
    with remit_span(provider.get_tracer("t"), carried(3), {"fee.remittance_id": "r"}):
        pass
    [remit] = spans.get_finished_spans()
    assert remit.name == "fee.remit" and len(remit.links) == 3
