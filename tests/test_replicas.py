"""Several `agentslo serve` processes on one ClickHouse server behave as one service.

Real processes of every role against the suite's ClickHouse HTTP stand-in, evaluating every
2 s: one evaluates per interval while the others stand by; when the holder of the evaluator
lease is stopped or killed (kill -9), another takes over within two intervals and carries on
with the alert states and the outbox, sending nothing twice; spans sent through every replica,
one of them killed meanwhile, are all stored once acknowledged.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from ground.storage import LEASES, SLO_STATUS, TRACES, open_storage
from tests.collector.otlp_requests import attr
from tests.conftest import SERVER_ENV, SERVER_PASSWORD, SERVER_USER, storage_spec
from tests.support.clickhouse_http import ClickHouseHttpServer
from tests.support.webhook_receiver import WebhookReceiver
from tests.test_serve import START_TIMEOUT_S, Served, start

INTERVAL_S = 2
SLOS = ("checkout-availability", "search-availability")
PROTOBUF = {"content-type": "application/x-protobuf"}


def config(receiver: WebhookReceiver | None = None) -> str:
    receivers = "" if receiver is None else f"""
alerts:
  receivers:
    - {{name: oncall, url: {receiver.url}, severities: [page]}}
"""
    slos = "".join(f"""
  - name: {name}
    objective: 99
    window: 30d
    sli: {{kind: availability, over: tasks, filter: [{{column: ServiceName, op: eq, value: {name.split('-')[0]}}}]}}
""" for name in SLOS)
    return f"""
storage: {{password_env: CLICKHOUSE_PASSWORD}}
ingest: {{workers: 0}}
evaluation: {{interval_s: {INTERVAL_S}}}
slos:{slos}{receivers}"""


class Deployment:
    """Replicas of `agentslo serve` on one database of the stand-in, started as the test asks."""

    def __init__(self, server: ClickHouseHttpServer, tmp_path: Path, receiver: WebhookReceiver | None) -> None:
        self.database = f"replicas_{uuid.uuid4().hex[:10]}"
        self.url = f"http://{SERVER_USER}@127.0.0.1:{server.port}/{self.database}"
        self.path = tmp_path / "agentslo.yaml"
        self.path.write_text(config(receiver))
        self.replicas: dict[str, Served] = {}
        self.storage = open_storage(storage_spec("server", self.database, server, Path()), env=SERVER_ENV)

    def start(self, **roles: str) -> None:
        """Start a replica per name=role, all at once, and wait until each is ready."""
        for name, role in roles.items():
            self.replicas[name] = start("--config", str(self.path), "--clickhouse-url", self.url, "--role", role,
                                        "--replica-name", name, env={"CLICKHOUSE_PASSWORD": SERVER_PASSWORD})
        for name in roles:
            self.replicas[name].wait_until("/readyz", 200)

    def live(self) -> dict[str, Served]:
        return {name: served for name, served in self.replicas.items() if served.process.poll() is None}

    def evaluator(self) -> str:
        """The live replica every live replica names as the evaluator, once they agree on one."""
        def agreed() -> str | None:
            live = self.live()
            named = {served.get("/readyz").json()["evaluator"] for served in live.values()}
            return named.pop() if len(named) == 1 and named <= set(live) else None
        return wait_for(agreed)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> float:
        """Stop a replica with `sig`; return when the signal was sent (Unix time)."""
        served = self.replicas[name]
        sent = time.time()
        served.process.send_signal(sig)
        served.process.communicate(timeout=60)
        return sent

    def claims(self) -> list[tuple[int, str, float]]:
        """Each term of the lease: its number, its holder and when the server stamped its claim (Unix time)."""
        rows = self.storage.query(f"SELECT Term, any(Holder), toUnixTimestamp64Milli(min(ClaimedAt)) FROM {LEASES} "
                                  "GROUP BY Term ORDER BY Term").rows
        return [(term, holder, millis / 1000) for term, holder, millis in rows]

    def status_times(self) -> list[tuple[float, int]]:
        """Each evaluation that wrote slo_status: when (Unix time) and how many rows."""
        rows = self.storage.query(f"SELECT toUnixTimestamp64Milli(Timestamp), count() FROM {SLO_STATUS} "
                                  "GROUP BY Timestamp ORDER BY Timestamp").rows
        return [(millis / 1000, count) for millis, count in rows]

    def close(self) -> None:
        for served in self.live().values():
            served.stop(signal.SIGKILL)
        self.storage.command(f"DROP DATABASE IF EXISTS {self.database}")
        self.storage.close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    running = WebhookReceiver().start()
    yield running
    running.stop()


@pytest.fixture
def deployment(clickhouse_server: ClickHouseHttpServer, tmp_path: Path,
               receiver: WebhookReceiver) -> Iterator[Deployment]:
    deployed = Deployment(clickhouse_server, tmp_path, receiver)
    yield deployed
    deployed.close()


def wait_for(found: Callable[[], object], timeout_s: float = START_TIMEOUT_S) -> object:
    """Poll `found` until it returns something other than None or False; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not (result := found()):
        assert time.monotonic() < deadline, f"not found within {timeout_s} s: {found}"
        time.sleep(0.1)
    return result


def sample(served: Served, name: str) -> float:
    """One sample's value from the replica's /metrics (0 when absent)."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", served.get("/metrics").text, flags=re.M)
    return float(match[1]) if match else 0.0


def cycles(deployment: Deployment) -> dict[str, int]:
    return {name: int(sample(served, "agentslo_evaluation_cycle_seconds_count"))
            for name, served in deployment.live().items()}


def test_of_three_replicas_one_evaluates_each_interval_and_all_show_its_slis(deployment: Deployment) -> None:
    deployment.start(a="all", b="all", e="evaluator")
    holder = deployment.evaluator()
    time.sleep(5 * INTERVAL_S)
    # What the replicas counted and what the store holds, read with no cycle in between.
    while True:
        before = cycles(deployment)
        evaluations = deployment.status_times()
        if cycles(deployment) == before:
            break
    held = {name: sample(served, "agentslo_evaluator_lease_held") for name, served in deployment.live().items()}
    assert held == {name: float(name == holder) for name in "abe"}
    assert before == {name: len(evaluations) if name == holder else 0 for name in "abe"}
    assert len(evaluations) >= 4
    assert {count for _, count in evaluations} == {len(SLOS)}  # one row per SLO per evaluation
    gaps = [later - earlier for (earlier, _), (later, _) in zip(evaluations, evaluations[1:])]
    assert min(gaps) > INTERVAL_S / 2, gaps

    # Every replica shows the holder's last cycle: the same SLIs, budgets and alert states.
    def same_answer() -> list[object] | None:
        answers = [served.get("/api/v1/slos").json() for served in deployment.live().values()]
        return answers if all(answer == answers[0] for answer in answers) else None
    answers = wait_for(same_answer)
    assert [slo["name"] for slo in answers[0]] == list(SLOS)


def test_the_evaluator_lease_passes_on_at_a_stop_at_once_and_at_a_kill_within_two_intervals(
        deployment: Deployment) -> None:
    deployment.start(a="all", b="all", c="evaluator")
    first = deployment.evaluator()
    stopped_at = deployment.kill(first, signal.SIGTERM)
    second = deployment.evaluator()
    killed_at = deployment.kill(second, signal.SIGKILL)
    third = deployment.evaluator()
    claims = deployment.claims()
    assert [(term, holder) for term, holder, _ in claims] == [(1, first), (2, second), (3, third)]
    assert sorted({first, second, third}) == ["a", "b", "c"]
    # Released at a stop, the lease is claimed at the next look of a standby (a third of a lease time).
    assert claims[1][2] - stopped_at < INTERVAL_S, claims
    # After a kill, once the lease time since its last renewal has passed, and a look more.
    assert claims[2][2] - killed_at < 2 * INTERVAL_S, claims
    # The new holder evaluates at once, then every interval.
    wait_for(lambda: sum(1 for at, _ in deployment.status_times() if at > claims[2][2]) >= 2)


def failing_tasks(service: str, minutes: int = 60) -> bytes:
    """One failed agent task of `service` a minute for the last `minutes` minutes (the latest ended 2 min ago)."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(attr("service.name", service))
    scope_spans = resource_spans.scope_spans.add()
    now_s = int(time.time())
    for minute in range(minutes, 2, -1):
        start_ns = (now_s - minute * 60) * 1_000_000_000
        scope_spans.spans.append(Span(
            trace_id=uuid.uuid4().bytes, span_id=os.urandom(8), name=f"invoke_agent {service}",
            start_time_unix_nano=start_ns, end_time_unix_nano=start_ns + 2_000_000_000,
            attributes=[attr("gen_ai.operation.name", "invoke_agent")],
            status=Status(code=Status.STATUS_CODE_ERROR, message="upstream 500"),
        ))
    return request.SerializeToString()


def pages(requests: list, slo: str) -> list[str]:
    """The delivery ids of the page notifications about `slo` among `requests`."""
    return sorted(r.headers["X-AgentSLO-Delivery-Id"] for r in requests if r.json()["commonLabels"]["slo"] == slo)


def test_notifications_are_sent_once_across_a_kill_of_the_evaluator(deployment: Deployment,
                                                                    receiver: WebhookReceiver) -> None:
    deployment.start(a="all", b="all")
    holder = deployment.evaluator()
    other = next(name for name in deployment.replicas if name != holder)
    ingest = deployment.replicas[other]
    # The checkout SLO pages (both page window pairs), and the holder delivers it.
    assert httpx.post(ingest.url + "/v1/traces", content=failing_tasks("checkout"), headers=PROTOBUF,
                      timeout=30).status_code == 200
    wait_for(lambda: len(pages(receiver.received, "checkout-availability")) == 2)
    # The search SLO pages while the receiver fails: queued in the outbox, tried, not delivered.
    receiver.status = 503
    assert httpx.post(ingest.url + "/v1/traces", content=failing_tasks("search"), headers=PROTOBUF,
                      timeout=30).status_code == 200
    wait_for(lambda: pages(receiver.requests, "search-availability"))
    tried = set(pages(receiver.requests, "search-availability"))
    deployment.kill(holder)
    receiver.status = 200

    assert deployment.evaluator() == other
    wait_for(lambda: len(pages(receiver.received, "search-availability")) == 2)
    claimed = deployment.claims()[-1][2]
    wait_for(lambda: sum(1 for at, _ in deployment.status_times() if at > claimed) >= 3)
    # The new holder delivered what the killed one had queued, with the same ids, and nothing twice.
    assert len(receiver.received) == 4
    assert tried <= set(pages(receiver.received, "search-availability"))
    deliveries = ingest.get("/api/v1/alerts").json()["deliveries"]
    assert sorted((d["slo"], d["state"]) for d in deliveries) == [
        ("checkout-availability", "delivered")] * 2 + [("search-availability", "delivered")] * 2


def spans_request(request_index: int, spans: int) -> tuple[bytes, set[tuple[str, str]]]:
    """An export of `spans` model calls of one trace; and their (TraceId, SpanId) keys, as stored."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(attr("service.name", "replicated-agent"))
    scope_spans = resource_spans.scope_spans.add()
    trace_id = uuid.uuid4().bytes
    end_ns = time.time_ns()
    keys = set()
    for index in range(spans):
        span_id = (request_index * 1000 + index + 1).to_bytes(8, "big")
        scope_spans.spans.append(Span(trace_id=trace_id, span_id=span_id, name="chat gpt-4o",
                                      start_time_unix_nano=end_ns - 1_000_000, end_time_unix_nano=end_ns,
                                      attributes=[attr("gen_ai.operation.name", "chat")]))
        keys.add((trace_id.hex(), span_id.hex()))
    return request.SerializeToString(), keys


def test_spans_sent_through_every_replica_are_stored_once_acknowledged_though_one_is_killed(
        deployment: Deployment) -> None:
    deployment.start(i1="ingest", i2="ingest", a="all")
    urls = [served.url for served in deployment.replicas.values()]
    acknowledged: set[tuple[str, str]] = set()
    sent: set[tuple[str, str]] = set()
    lock = threading.Lock()
    halfway = threading.Event()

    def sender(first: int) -> None:
        # As a load balancer with an exporter's retries: a request that fails goes to the next replica.
        for number in range(first, first + 12):
            body, keys = spans_request(number, 200)
            with lock:
                sent.update(keys)
            target = number
            while True:
                try:
                    answer = httpx.post(urls[target % len(urls)] + "/v1/traces", content=body, headers=PROTOBUF,
                                        timeout=30)
                    if answer.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                target += 1
            with lock:
                acknowledged.update(keys)
                if len(acknowledged) >= 4_000:
                    halfway.set()

    senders = [threading.Thread(target=sender, args=(start_at,)) for start_at in (0, 100, 200, 300)]
    for thread in senders:
        thread.start()
    halfway.wait(START_TIMEOUT_S)
    deployment.kill("i1")
    for thread in senders:
        thread.join()

    rows = deployment.storage.query(f"SELECT TraceId, SpanId, count() FROM {TRACES} GROUP BY TraceId, SpanId").rows
    stored = {(trace, span) for trace, span, _ in rows}
    assert acknowledged == sent and len(sent) == 48 * 200
    assert acknowledged <= stored == sent
    # A request stored by the killed replica but not answered, sent again to another, is stored twice
    # only when that replica stored it in one insert with others (its deduplication token differs).
    assert sum(count - 1 for *_, count in rows) % 200 == 0


def test_a_request_sent_again_through_another_replica_is_stored_once(deployment: Deployment) -> None:
    deployment.start(i1="ingest", i2="ingest")
    body, keys = spans_request(0, 50)
    answers = [httpx.post(served.url + "/v1/traces", content=body, headers=PROTOBUF, timeout=30).status_code
               for served in deployment.replicas.values()]
    rows = deployment.storage.query(f"SELECT TraceId, SpanId FROM {TRACES}").rows
    assert answers == [200, 200]
    assert sorted(rows) == sorted(keys)
