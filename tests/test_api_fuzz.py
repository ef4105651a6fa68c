"""Fuzzing the API: Schemathesis runs the service's own OpenAPI description against `agentslo serve`.

Every operation of /openapi.json gets generated requests, valid and invalid: the examples of the
description, its coverage cases (boundaries, missing and malformed values, wrong types), then
generated ones, derandomized so that every run sends the same cases. Each answer is checked
against the description with all of Schemathesis's checks: never a 5xx, a documented status and
content type, a body matching the declared schema, invalid data refused, valid data accepted.
POST /v1/traces gets two more properties of its own: any bytes under any content type and
encoding are a valid request or a 4xx, and any well-formed protobuf request, however odd its
spans, is answered 200, its invalid spans rejected one by one (partial success). The server's
log holds no traceback at the end.

The Schemathesis CLI runs it (its pytest plugin cannot load a schema from a fixture under
pytest 9.2: it sets `Function._nodeid`, which pytest no longer has).
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from tests.test_serve import Served, free_port

CONFIG = """
slos:
  - name: triage-availability
    objective: 99
    window: 7d
    sli: {kind: availability, over: tasks}
  - name: chat-latency
    objective: 95
    window: 28d
    budgeting: {method: timeslices, slice: 5m, slice_objective: 95}
    sli: {kind: latency, over: llm_calls, threshold: 2s}
budgets:
  - name: all-daily
    period: day
    limit_usd: 100
  - name: per-user-daily
    period: day
    limit_usd: 5
    per: user
evaluation: {interval_s: 3600}
auth:
  keys:
    - {key_env: FUZZ_ADMIN_KEY, tenant: ops, scope: admin}
    - {key_env: FUZZ_INGEST_KEY, tenant: fuzz, scope: ingest}
"""
# The service is fuzzed as it runs exposed: with API keys, which Schemathesis sends (and, to check
# that a missing or wrong key is refused, leaves out or spoils).
ADMIN_KEY, INGEST_KEY = "fuzz-admin-key-0123456789", "fuzz-ingest-key-0123456789"
INGEST = {"x-api-key": INGEST_KEY}

# Valid requests the description cannot tell from accepted ones: any bytes are a protobuf body
# as far as a schema can say, but only an ExportTraceServiceRequest is one (400 otherwise); an
# `at` is a date-time, but only one between the retention's start and now can be evaluated (422); the
# console's reads take a `start` and an `end` that are each a date-time, but must be in order and at most
# a year apart, and a `cursor` that is a string, but only one the API gave (422).
SCHEMATHESIS_TOML = """
auth.openapi.x-api-key.api_key = "{key}"

[[operations]]
include-name = "POST /v1/traces"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400"]

[[operations]]
include-name = "POST /api/v1/evaluate"
checks.positive_data_acceptance.expected-statuses = ["2xx", "422"]
[[operations]]
include-name = "GET /api/v1/tasks"
checks.positive_data_acceptance.expected-statuses = ["2xx", "422"]
[[operations]]
include-name = "GET /api/v1/spend"
checks.positive_data_acceptance.expected-statuses = ["2xx", "422"]
[[operations]]
include-name = "GET /api/v1/slos/{{name}}/history"
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "422"]
"""

MAX_EXAMPLES = 40  # per operation in the fuzzing phase


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The served process's log: a file, since thousands of refused requests could fill a pipe."""
    return tmp_path_factory.mktemp("fuzz-log") / "agentslo.log"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, log: Path) -> Iterator[Served]:
    tmp_path = tmp_path_factory.mktemp("fuzz")
    (tmp_path / "agentslo.yaml").write_text(CONFIG)
    port = free_port()
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "agentslo", "serve", "--config", str(tmp_path / "agentslo.yaml"),
             "--data", str(tmp_path / "data"), "--http-port", str(port), "--grpc-port", str(free_port())],
            stdout=subprocess.DEVNULL, stderr=log_file, text=True,
            env={**os.environ, "FUZZ_ADMIN_KEY": ADMIN_KEY, "FUZZ_INGEST_KEY": INGEST_KEY})
    running = Served(process, f"http://127.0.0.1:{port}")
    running.wait_until("/readyz", 200)
    yield running
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)


def schemathesis(served: Served, directory: Path, key: str, selection: list[str]) -> tuple[dict, str]:
    """Run Schemathesis on the operations `selection` picks, sending `key` (and spoiling it to check
    that a wrong key is refused); return its JSON report and its output."""
    directory.mkdir()
    config, report = directory / "schemathesis.toml", directory / "report.json"
    config.write_text(SCHEMATHESIS_TOML.format(key=key))
    run = subprocess.run(
        [str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(config), "run",
         served.url + "/openapi.json", *selection, "--checks", "all", "--phases", "examples,coverage,fuzzing",
         "--max-examples", str(MAX_EXAMPLES), "--generation-deterministic", "--continue-on-failure",
         "--workers", "1", "--request-timeout", "60", "--no-color",
         "--report", "json", "--report-json-path", str(report)],
        capture_output=True, text=True, timeout=300, cwd=directory,
    )
    assert report.exists(), run.stdout + run.stderr
    summary = json.loads(report.read_text())
    assert (run.returncode, summary["failures"], summary["errors"]) == (0, [], []), run.stdout
    return summary, run.stdout


def test_every_operation_answers_as_described(served: Served, tmp_path: Path) -> None:
    paths = served.get("/openapi.json").json()["paths"]
    operations = sum(len(methods) for methods in paths.values())
    # So that the export operation is fuzzed with bodies of both encodings.
    assert set(paths["/v1/traces"]["post"]["requestBody"]["content"]) == {"application/x-protobuf", "application/json"}
    # Ingest takes an ingest key, every other operation a read or admin one: two runs.
    ingest, _ = schemathesis(served, tmp_path / "ingest", INGEST_KEY, ["--include-name", "POST /v1/traces"])
    api, _ = schemathesis(served, tmp_path / "api", ADMIN_KEY, ["--exclude-name", "POST /v1/traces"])
    cases = ingest["test_cases"]["generated"] + api["test_cases"]["generated"]
    tested = ingest["operations"]["tested"] + api["operations"]["tested"]
    print(f"schemathesis: {cases} cases over {tested} operations in "
          f"{ingest['running_time'] + api['running_time']:.1f} s")
    assert tested == operations
    assert ingest["operations"]["skipped"] == api["operations"]["skipped"] == 0


# What an exporter, a proxy or a stranger may put in the headers that choose the decoding.
CONTENT_TYPES = st.one_of(
    st.sampled_from(["application/x-protobuf", "application/json", "Application/JSON; charset=utf-8",
                     "application/x-protobuf; proto=opentelemetry", "application/protobuf", "text/plain",
                     "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", ";", ""]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=40).map(str.strip),
)
ENCODINGS = st.sampled_from([None, "gzip", "GZIP", "identity", "deflate", "br", "gzip, gzip", ""])
DECODED = {"application/x-protobuf", "application/json"}


@settings(max_examples=200, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content_type=CONTENT_TYPES, encoding=ENCODINGS, body=st.binary(max_size=4096), gzipped=st.booleans())
def test_any_bytes_under_any_content_type_get_a_4xx_or_are_a_valid_request(
    served: Served, content_type: str, encoding: str | None, body: bytes, gzipped: bool
) -> None:
    headers = INGEST | {"Content-Type": content_type} | ({"Content-Encoding": encoding} if encoding is not None else {})
    sent = gzip.compress(body) if gzipped and encoding in ("gzip", "GZIP") else body
    response = httpx.post(served.url + "/v1/traces", content=sent, headers=headers, timeout=30)
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind not in DECODED or (encoding or "identity").strip().lower() not in ("gzip", "identity"):
        assert response.status_code == 415, response.text
    else:
        assert response.status_code in (200, 400), response.text


def _kvlist(pairs: list[tuple[str, AnyValue]]) -> AnyValue:
    return AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=key, value=value) for key, value in pairs]))


KEYS = st.one_of(st.sampled_from(["gen_ai.operation.name", "gen_ai.request.model", "gen_ai.usage.input_tokens",
                                  "gen_ai.usage.cost", "gen_ai.prompt", "user.id", "agentslo.degraded",
                                  "service.name", "deployment.environment"]), st.text(max_size=12))
ANY_VALUES = st.recursive(
    st.one_of(st.text(max_size=30).map(lambda v: AnyValue(string_value=v)),
              st.integers(-(2**63), 2**63 - 1).map(lambda v: AnyValue(int_value=v)),
              st.floats().map(lambda v: AnyValue(double_value=v)), st.booleans().map(lambda v: AnyValue(bool_value=v)),
              st.binary(max_size=16).map(lambda v: AnyValue(bytes_value=v)), st.just(AnyValue())),
    lambda values: st.one_of(st.lists(values, max_size=3).map(lambda vs: AnyValue(array_value=ArrayValue(values=vs))),
                             st.lists(st.tuples(KEYS, values), max_size=3).map(_kvlist)),
    max_leaves=8,
)
ATTRIBUTES = st.lists(st.builds(KeyValue, key=KEYS, value=ANY_VALUES), max_size=6)
TIMES = st.one_of(st.integers(0, 2**64 - 1), st.just(1_700_000_000_000_000_000))
IDS = st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=20))
SPANS = st.builds(
    Span, trace_id=IDS, span_id=st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=10)),
    parent_span_id=st.binary(max_size=8), name=st.text(max_size=20), kind=st.integers(-(2**31), 2**31 - 1),
    start_time_unix_nano=TIMES, end_time_unix_nano=TIMES, attributes=ATTRIBUTES,
    events=st.lists(st.builds(Span.Event, time_unix_nano=TIMES, name=st.text(max_size=12), attributes=ATTRIBUTES),
                    max_size=2),
    links=st.lists(st.builds(Span.Link, trace_id=IDS, span_id=st.binary(max_size=8), attributes=ATTRIBUTES),
                   max_size=2),
    status=st.builds(Status, code=st.integers(-(2**31), 2**31 - 1), message=st.text(max_size=12)),
)
REQUESTS = st.lists(st.tuples(ATTRIBUTES, st.lists(SPANS, max_size=4)), min_size=1, max_size=2).map(
    lambda resources: ExportTraceServiceRequest(resource_spans=[
        ResourceSpans(resource=Resource(attributes=attributes), scope_spans=[ScopeSpans(spans=spans)])
        for attributes, spans in resources]))


@settings(max_examples=60, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(request=REQUESTS)
def test_any_well_formed_request_is_stored_or_rejected_span_by_span(
    served: Served, request: ExportTraceServiceRequest
) -> None:
    response = httpx.post(served.url + "/v1/traces", content=request.SerializeToString(),
                          headers={**INGEST, "Content-Type": "application/x-protobuf"}, timeout=30)
    assert response.status_code == 200, response.text
    answer = ExportTraceServiceResponse.FromString(response.content)
    spans = sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)
    assert 0 <= answer.partial_success.rejected_spans <= spans


def test_the_server_logged_no_traceback_and_stops_cleanly(served: Served, log: Path) -> None:
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=60) == 0
    text = log.read_text()
    assert "agentslo: stopped" in text
    assert "Traceback" not in text
    assert " ERROR " not in text
