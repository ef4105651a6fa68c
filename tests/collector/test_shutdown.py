"""SIGTERM while spans stream in, or while a client trickles a body: the process exits 0, in time, and
every acknowledged span is stored. kill -9: the mapping workers do not outlive it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

from tests.collector.otlp_requests import agent_request
from tests.collector.test_durability import Acknowledged
from tests.test_serve import start


@pytest.fixture
def backend() -> str:
    return "embedded"


def stored_span_ids(data_dir: Path) -> list[str]:
    """Span ids in the data directory, read by a separate process (chDB runs one directory per process)."""
    script = (
        "import json, sys; from pathlib import Path; "
        "from ground.storage import StorageSpec; from ground.storage import open_storage; "
        "s = open_storage(StorageSpec(data_dir=Path(sys.argv[1]))); "
        "print(json.dumps([r[0] for r in s.query('SELECT SpanId FROM otel_traces').rows]))"
    )
    result = subprocess.run([sys.executable, "-c", script, str(data_dir)], capture_output=True, text=True,
                            timeout=120, check=True)
    return json.loads(result.stdout)


def test_sigterm_mid_stream_stores_every_acknowledged_span(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    served = start("--data", str(data_dir))
    served.wait_until("/readyz", 200)
    exporter = Acknowledged(OTLPSpanExporter(endpoint=served.url + "/v1/traces", timeout=5))
    provider = TracerProvider(resource=Resource.create({"service.name": "sigterm-agent"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=20, max_export_batch_size=256))
    tracer = provider.get_tracer("test")
    stop_emitting = threading.Event()

    def emit() -> None:
        while not stop_emitting.is_set():
            for _ in range(50):
                with tracer.start_as_current_span("chat", attributes={"gen_ai.operation.name": "chat"}):
                    pass
            time.sleep(0.001)

    emitter = threading.Thread(target=emit)
    emitter.start()
    # Stream until well over a thousand spans are acknowledged (a loaded machine takes longer), then stop.
    deadline = time.monotonic() + 30
    while len(exporter.span_ids) <= 1000 and time.monotonic() < deadline:
        time.sleep(0.05)
    code, stderr = served.stop(signal.SIGTERM)  # while batches are in flight
    exporter.server_gone = True
    stop_emitting.set()
    emitter.join()
    provider.shutdown()

    assert code == 0, stderr
    acknowledged = exporter.span_ids
    assert len(acknowledged) > 1000
    stored = stored_span_ids(data_dir)
    assert len(stored) == len(set(stored))
    assert set(acknowledged) <= set(stored)


def test_a_client_still_sending_at_the_shutdown_deadline_is_cut_and_the_process_exits_0(tmp_path: Path) -> None:
    config = tmp_path / "agentslo.yaml"
    config.write_text("server:\n  shutdown_timeout_s: 2\n  read_timeout_s: 60\n")
    data_dir = tmp_path / "data"
    served = start("--config", str(config), "--data", str(data_dir))
    try:
        served.wait_until("/readyz", 200)
        exporter = Acknowledged(OTLPSpanExporter(endpoint=served.url + "/v1/traces", timeout=10))
        provider = TracerProvider(resource=Resource.create({"service.name": "deadline-agent"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        for _ in range(3):
            with provider.get_tracer("test").start_as_current_span("chat"):
                pass
        assert len(exporter.span_ids) == 3
        port = int(served.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as trickler:
            trickler.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-protobuf\r\n"
                             b"Content-Length: 1000000\r\n\r\n")
            sending = threading.Thread(target=_trickle, args=(trickler,))
            sending.start()
            time.sleep(0.5)
            started = time.monotonic()
            served.process.send_signal(signal.SIGTERM)
            answer = _read_until_closed(trickler)
            _, stderr = served.process.communicate(timeout=30)
            elapsed = time.monotonic() - started
            sending.join()
        provider.shutdown()

        assert served.process.returncode == 0, stderr
        assert answer.split(b"\r\n")[0] == b"HTTP/1.1 503 Service Unavailable"
        assert 2 <= elapsed < 10
        assert "WARNING agentslo: shutdown: cut 1 HTTP request(s) still open after 2 s" in stderr
        assert set(exporter.span_ids) <= set(stored_span_ids(data_dir))
    finally:
        if served.process.poll() is None:
            served.process.kill()


def _trickle(sock: socket.socket) -> None:
    """One byte of body every half second, until the server closes the connection."""
    while True:
        try:
            sock.sendall(b"\x0a")
        except OSError:
            return
        time.sleep(0.5)


def _read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def test_mapping_workers_exit_when_the_service_is_killed(tmp_path: Path) -> None:
    served = start("--data", str(tmp_path / "data"))
    workers: set[int] = set()
    try:
        served.wait_until("/readyz", 200)
        exported = httpx.post(served.url + "/v1/traces", content=agent_request().SerializeToString(),
                              headers={"content-type": "application/x-protobuf"}, timeout=60)
        assert exported.status_code == 200
        workers = _children(served.process.pid)
        assert workers  # the pool starts its workers as work comes
        served.process.kill()
        served.process.wait()
        deadline = time.monotonic() + 5
        while (alive := {pid for pid in workers if _running(pid)}) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert alive == set()
    finally:
        for pid in workers:  # never leave them behind, should this fail
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        if served.process.poll() is None:
            served.process.kill()


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found.add(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie (an exited child nobody reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
