"""Hand-built otel_traces rows and SLOs for the SLO engine's tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from ground.storage import TRACES, Storage
from slo import SLO, parse_slo_specs, slo_from_spec

# A Monday, noon, UTC: tests place spans around it and evaluate as of times near it.
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)


def span(trace: str, span_id: str, parent: str = "", *, at: timedelta, lasts: timedelta = SECOND,
         **columns: Any) -> dict[str, Any]:
    """An otel_traces row starting `at` after T0; other columns as ingest would fill them."""
    return {
        "TraceId": trace,
        "SpanId": span_id,
        "ParentSpanId": parent,
        "Timestamp": (T0 + at).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "Duration": lasts // timedelta(microseconds=1) * 1000,
        "StatusCode": "Unset",
        "ServiceName": "support-agent",
        **columns,
    }


def agent(trace: str, span_id: str, parent: str = "", **fields: Any) -> dict[str, Any]:
    """An invoke_agent span."""
    return span(trace, span_id, parent, GenAiOperation="invoke_agent", **fields)


def chat(trace: str, span_id: str, parent: str, **fields: Any) -> dict[str, Any]:
    """A model call: a priced chat span."""
    return span(trace, span_id, parent, GenAiOperation="chat", CostSource="priced", **fields)


def tool(trace: str, span_id: str, parent: str, **fields: Any) -> dict[str, Any]:
    """A tool call."""
    return span(trace, span_id, parent, GenAiOperation="execute_tool", **fields)


def insert(storage: Storage, rows: Iterable[dict[str, Any]]) -> None:
    """Store rows in otel_traces as ingest does, one JSON object per line."""
    storage.insert_json_rows(TRACES, b"\n".join(orjson.dumps(row) for row in rows))


def make_slo(name: str = "test-slo", *, objective: float = 99, window: str = "1d", **fields: Any) -> SLO:
    """An SLO from its config-file form, validated as `agentslo check` would."""
    spec = {"name": name, "objective": objective, "window": window, **fields}
    return slo_from_spec(parse_slo_specs([spec], where="test")[0])
