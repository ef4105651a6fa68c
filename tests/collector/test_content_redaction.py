"""Private by default: the prompt and completion text of every instrumentation family is dropped at ingest.

Spans shaped as each library emits them (tests/collector/instrumented_spans.py)
are exported with the OpenTelemetry SDK to a running service, once with
`capture_content` off (the default) and once on, and each content name is
looked up in what was stored. A marker sent through every one of them must then
be nowhere: not in any table, not in the logs, not in /metrics.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util.types import AttributeValue

from agentslo.config import Config, IngestSpec
from ground.storage import Storage, open_storage
from tests.collector.conftest import StartService
from tests.collector.instrumented_spans import SPANS, LibrarySpan, content_names, emit, marked
from tests.conftest import storage_spec
from tests.support.service import ServiceThread

MARKER = f"content-marker-{uuid.uuid4().hex}"


def export(exporter: SpanExporter, marker: str) -> None:
    """Every library span, exported in one request, as a service's SDK would send them."""
    recorded = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "refund-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(recorded))
    emit(provider, marker)
    provider.shutdown()
    assert exporter.export(recorded.get_finished_spans()) is SpanExportResult.SUCCESS
    exporter.shutdown()


def stored_text(value: AttributeValue) -> str:
    """An attribute value as ingest stores it (the Collector's AsString)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return value
    return orjson.dumps(list(value)).decode()


def stored_attributes(kept: dict[str, AttributeValue], content: dict[str, AttributeValue] | None) -> dict[str, str]:
    """What a span's or an event's attributes should be stored as: the kept ones, and the content when captured."""
    sent = {**kept, **{key: marked(value, MARKER) for key, value in (content or {}).items()}}
    return {key: stored_text(value) for key, value in sent.items()}


@pytest.fixture(scope="module")
def stored(chdb_dir: Path) -> dict[bool, dict[str, dict[str, Any]]]:
    """Every library span as a running service stored it: by capture_content, then span name."""
    by_capture = {}
    for capture in (False, True):
        spec = storage_spec("embedded", f"content_{uuid.uuid4().hex[:10]}", None, chdb_dir)
        service = ServiceThread(Config(storage=spec, ingest=IngestSpec(capture_content=capture)),
                                open_storage(spec)).start()
        try:
            export(HttpExporter(endpoint=service.http_url + "/v1/traces"), MARKER)
            reader = open_storage(spec)
            rows = reader.query("SELECT SpanName, SpanAttributes, Events.Name AS events, "
                                "Events.Attributes AS event_attributes FROM otel_traces").dicts()
            reader.close()
        finally:
            service.stop()
        by_capture[capture] = {row["SpanName"]: row for row in rows}
    return by_capture


def _name_id(span: LibrarySpan, key: str | None, event: str | None) -> str:
    if event is None:
        return f"{span.library}: {key} on {span.name}"
    if key is None:
        return f"{span.library}: event {event} on {span.name}"
    return f"{span.library}: {key} of event {event} on {span.name}"


CONTENT_NAMES = [pytest.param(span, key, event, id=_name_id(span, key, event)) for span, key, event in content_names()]


def _event_attributes(row: dict[str, Any], event: str) -> dict[str, str]:
    [attributes] = [attrs for name, attrs in zip(row["events"], row["event_attributes"]) if name == event]
    return attributes


@pytest.mark.parametrize(("span", "key", "event"), CONTENT_NAMES)
def test_content_is_dropped_by_default(stored, span: LibrarySpan, key: str | None, event: str | None) -> None:
    row = stored[False][span.name]
    if event is None:
        assert key not in row["SpanAttributes"]
    elif key is None:
        assert event not in row["events"]
    else:
        assert key not in _event_attributes(row, event)


@pytest.mark.parametrize(("span", "key", "event"), CONTENT_NAMES)
def test_content_is_kept_when_capture_content_is_on(stored, span: LibrarySpan, key: str | None,
                                                    event: str | None) -> None:
    row = stored[True][span.name]
    if event is None:
        assert row["SpanAttributes"][key] == stored_text(marked(span.content[key], MARKER))
    else:
        [sent] = [e for e in span.events if e.name == event]
        assert _event_attributes(row, event) == stored_attributes(dict(sent.kept), dict(sent.content))


@pytest.mark.parametrize("capture", [False, True], ids=["capture_content off", "capture_content on"])
@pytest.mark.parametrize("span", SPANS, ids=[f"{span.library}: {span.name}" for span in SPANS])
def test_every_span_keeps_its_metadata_exactly(stored, span: LibrarySpan, capture: bool) -> None:
    row = stored[capture][span.name]
    assert row["SpanAttributes"] == stored_attributes(dict(span.kept), dict(span.content) if capture else None)
    events = [event for event in span.events if capture or not event.content_event]
    assert row["events"] == [event.name for event in events]
    assert row["event_attributes"] == [
        stored_attributes(dict(event.kept), dict(event.content) if capture else None) for event in events]


def every_table_dumped(storage: Storage) -> str:
    """Every row of every table of the service's database, as text."""
    tables = storage.query("SELECT name FROM system.tables WHERE database = currentDatabase() "
                           "AND engine NOT LIKE '%View' ORDER BY name").rows
    assert ("otel_traces",) in tables
    return "\n".join(repr(storage.query(f"SELECT * FROM {table}").rows) for (table,) in tables)


def test_a_marker_sent_as_every_kind_of_content_is_stored_logged_and_counted_nowhere(
        start_service: StartService, reader, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    service = start_service()
    export(HttpExporter(endpoint=service.http_url + "/v1/traces"), MARKER)
    export(GrpcExporter(endpoint=service.grpc_endpoint, insecure=True), MARKER)
    assert httpx.post(service.http_url + "/api/v1/evaluate", timeout=60).status_code == 200

    storage = reader(service)
    assert storage.query("SELECT count() FROM otel_traces").scalar() == 2 * (len(SPANS) + 1)
    dump = every_table_dumped(storage)
    assert "refund_workflow" in dump  # attribute values are in the dump: it would show the marker
    assert MARKER not in dump
    assert MARKER not in caplog.text
    captured = capfd.readouterr()  # the mapping worker processes write here
    assert MARKER not in captured.out + captured.err
    assert MARKER not in service.metrics
