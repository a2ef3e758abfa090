"""SQL statements show in a trace as one client span each, with the statement but never its
values, and without a span for every pool checkout."""

from __future__ import annotations

from sqlalchemy import text

from shared.db import make_engine
from shared.observe import trace_statements
from shared.settings import PlatformSettings
from shared.telemetry import in_memory_tracing


async def test_a_statement_is_one_span_without_its_values(
    platform: PlatformSettings, engine
) -> None:
    provider, spans = in_memory_tracing()
    traced = make_engine(str(engine.url.render_as_string(hide_password=False)), instrument=False)
    trace_statements(traced.sync_engine, provider)
    try:
        async with traced.connect() as conn:
            await conn.execute(text("SELECT CAST(:secret AS text) AS v"), {"secret": "13800138000"})
    finally:
        await traced.dispose()
    (span,) = [s for s in spans.get_finished_spans() if s.kind.name == "CLIENT"]
    assert span.name.startswith("SELECT ")
    assert span.attributes["db.system"] == "postgresql"
    assert "13800138000" not in str(span.attributes)
    assert not [s for s in spans.get_finished_spans() if s.name == "connect"]
