"""Mapped spans as Arrow columns: the insert body matches otel_traces and stores every row as mapped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector import MappingPolicy, PriceTable, SpanMapper, spans_insert_body
from collector._columns import SCHEMA
from ground.storage import TRACES, Storage, migrate
from tests.collector.otlp_requests import START_NS, agent_request, span

EPOCH_2262_NS = (1 << 63) - 1


def mapped(request: ExportTraceServiceRequest):
    return SpanMapper(MappingPolicy(), PriceTable.default()).map(request)


def one_span_request(**times: int) -> ExportTraceServiceRequest:
    """One chat span, with some of its times replaced."""
    request = ExportTraceServiceRequest()
    chat = span(0, "chat", {"gen_ai.operation.name": "chat"})
    for name, value in times.items():
        setattr(chat, name, value)
    request.resource_spans.add().scope_spans.add().spans.append(chat)
    return request


def test_the_arrow_columns_are_the_insertable_columns_of_otel_traces(storage: Storage) -> None:
    migrate(storage)
    columns = storage.query(
        "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String} "
        "AND default_kind != 'MATERIALIZED' AND name != 'InsertedAt' ORDER BY name",  # InsertedAt: the server's
        {"t": TRACES},
    ).rows
    assert sorted(SCHEMA.names) == [name for (name,) in columns]


def test_an_insert_body_is_one_arrow_stream_of_every_block() -> None:
    first, second = mapped(agent_request()), mapped(agent_request())
    table = pa.ipc.open_stream(spans_insert_body([first.block, second.block])).read_all()
    assert table.schema == SCHEMA
    assert table.num_rows == first.accepted + second.accepted == 8


def test_select_keeps_the_chosen_rows_in_order() -> None:
    block = mapped(agent_request()).block
    kept = block.select([False, True, False, True])
    assert len(kept) == 2
    assert kept.to_table().column("SpanName").to_pylist() == ["chat gpt-4o-mini", "chat claude"]


def test_mapped_rows_are_stored_as_mapped(storage: Storage) -> None:
    migrate(storage)
    batch = mapped(agent_request())
    storage.insert_arrow_stream(TRACES, spans_insert_body([batch.block]))
    rows = storage.query(
        f"SELECT SpanName, SpanKind, StatusCode, Duration, Events.Name, Events.Attributes, Links.TraceId, "
        f"Links.TraceState, Links.Attributes, SpanAttributes['gen_ai.request.stop_sequences'], "
        f"toUnixTimestamp64Nano(Timestamp), InputTokens, CostSource, Environment FROM {TRACES} ORDER BY SpanId"
    ).rows
    assert rows == [
        ("invoke_agent triage", "Server", "Unset", 250_000_000, [], [], [], [], [], "", START_NS, 0, "", "prod"),
        ("chat gpt-4o-mini", "Client", "Unset", 250_000_000, ["retry"], [{"http.resend_count": "1"}], [], [], [],
         '["\\n\\n","END"]', START_NS + 1_000_000, 1000, "priced", "prod"),
        ("execute_tool lookup_order", "Unspecified", "Error", 250_000_000, [], [], [bytes(range(16)).hex()], ["k=v"],
         [{"link": "x"}], "", START_NS + 2_000_000, 0, "", "prod"),
        ("chat claude", "Unspecified", "Unset", 250_000_000, [], [], [], [], [], "", START_NS + 3_000_000, 10,
         "reported", "prod"),
    ]


def test_a_span_at_the_unix_epoch_is_stored(storage: Storage) -> None:
    # As JSON text ("0.000000000") this timestamp failed the whole insert; as an Arrow timestamp it is exact.
    migrate(storage)
    batch = mapped(one_span_request(start_time_unix_nano=0, end_time_unix_nano=5))
    storage.insert_arrow_stream(TRACES, spans_insert_body([batch.block]))
    assert storage.query(f"SELECT toUnixTimestamp64Nano(Timestamp), Duration FROM {TRACES}").rows == [(0, 5)]


@pytest.mark.parametrize("fields", [
    {"start_time_unix_nano": EPOCH_2262_NS + 1, "end_time_unix_nano": EPOCH_2262_NS + 2},
    {"end_time_unix_nano": (1 << 64) - 1},
], ids=["start", "end"])
def test_a_span_past_2262_is_rejected_with_a_reason(fields: dict[str, int]) -> None:
    batch = mapped(one_span_request(**fields))
    assert (batch.accepted, batch.rejected) == (0, 1)
    assert batch.block is None
    assert "before 2262-04-11" in batch.error_message()


def test_a_span_with_an_event_past_2262_is_rejected() -> None:
    request = one_span_request()
    request.resource_spans[0].scope_spans[0].spans[0].events.add(time_unix_nano=EPOCH_2262_NS + 1, name="late")
    batch = mapped(request)
    assert (batch.accepted, batch.rejected) == (0, 1)
    assert "event's time_unix_nano" in batch.error_message()


def test_selecting_rows_does_not_load_pandas_into_the_serving_process() -> None:
    # pyarrow imports pandas (~50 MiB) when it converts Python objects; the writer selects
    # rows in the serving process, which has no other use for pandas. A fresh interpreter:
    # this one may have pandas already.
    block = mapped(agent_request()).block
    script = (
        "import sys\n"
        "from collector._columns import SpanBlock\n"
        f"kept = SpanBlock({block.message!r}, {block.rows}).select([True, False, False, True])\n"
        "assert kept.to_table().column('SpanName').to_pylist() == ['invoke_agent triage', 'chat claude']\n"
        "assert 'pandas' not in sys.modules, 'pandas was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).parents[2])
    assert result.returncode == 0, result.stderr
