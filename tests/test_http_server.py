"""Bounded HTTP: request heads, slow clients, concurrent bodies and disconnects, on a real server on loopback."""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from google.rpc import status_pb2

from agentslo.config import Config, IngestSpec, ServerSpec
from ground.storage import StorageSpec, open_storage
from tests.collector.otlp_requests import agent_request
from tests.support.service import ServiceThread

Serve = Callable[..., ServiceThread]
PROTOBUF = {"content-type": "application/x-protobuf"}


@pytest.fixture
def serve(chdb_dir: Path) -> Iterator[Serve]:
    """Starts services on the embedded store with the given `server:` and `ingest:` settings; stops them after."""
    started: list[ServiceThread] = []

    def start(*, ingest: dict[str, object] | None = None, **server: object) -> ServiceThread:
        storage = StorageSpec(data_dir=chdb_dir, database=f"http_{uuid.uuid4().hex[:10]}")
        # Mapping in-process: these tests are about the HTTP edge, and spare the machine two processes.
        config = Config(server=ServerSpec(**server), storage=storage, ingest=IngestSpec(workers=0, **(ingest or {})))
        service = ServiceThread(config, open_storage(storage)).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


def connect(service: ServiceThread) -> socket.socket:
    return socket.create_connection(("127.0.0.1", service.config.server.http_port), timeout=10)


def send(sock: socket.socket, data: bytes) -> None:
    """Send what the server still takes: it may close the connection midway, as it does on refusing."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def status_and_body(raw: bytes) -> tuple[str, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), body


def metric(service: ServiceThread, sample: str) -> float | None:
    """The value of one sample (name with labels) on /metrics, or None when it is absent."""
    for line in service.metrics.splitlines():
        name, _, value = line.rpartition(" ")
        if name == sample:
            return float(value)
    return None


def eventually(condition: Callable[[], object], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def headers(count: int) -> bytes:
    return b"".join(b"X-Header-%d: v\r\n" % i for i in range(count))


@pytest.mark.parametrize(
    ("head", "status", "message"),
    [
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n",
                     "HTTP/1.1 431 Request Header Fields Too Large", b"request head larger than 65536 bytes",
                     id="a header of 1 MiB is refused before it is all read"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n",
                     "HTTP/1.1 431 Request Header Fields Too Large", b"request head larger than 65536 bytes",
                     id="a head just over the limit, read at once, is refused"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: a\r\n" + headers(100) + b"\r\n",
                     "HTTP/1.1 431 Request Header Fields Too Large", b"more than 100 request headers",
                     id="101 headers are refused"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" + headers(98) + b"\r\n",
                     "HTTP/1.1 200 OK", b'{"status":"ok","detail":""}', id="100 headers are served"),
    ],
)
def test_request_heads_are_bounded_in_size_and_header_count(serve: Serve, head: bytes, status: str,
                                                            message: bytes) -> None:
    service = serve()
    with connect(service) as sock:
        send(sock, head)
        assert status_and_body(answer(sock)) == (status, message)
    assert httpx.get(service.http_url + "/healthz", timeout=10).status_code == 200


def test_refused_heads_are_counted_by_reason(serve: Serve) -> None:
    service = serve(max_header_bytes=4096, max_headers=10)
    for head in (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n", b"GET / HTTP/1.1\r\n" + headers(11) + b"\r\n"):
        with connect(service) as sock:
            send(sock, head)
            answer(sock)
    assert metric(service, 'agentslo_http_refused_total{reason="head_too_large"}') == 1
    assert metric(service, 'agentslo_http_refused_total{reason="too_many_headers"}') == 1


BODY_HEAD = b"POST /v1/traces HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\n"
TIMEOUT_408 = "HTTP/1.1 408 Request Timeout"


def trickle(data: bytes, every_s: float) -> Callable[[socket.socket], None]:
    """Sends `data` a byte at a time, one every `every_s` seconds, until the server closes the connection."""

    def sender(sock: socket.socket) -> None:
        for byte in data:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return
            time.sleep(every_s)

    return sender


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        pytest.param(lambda sock: None, ("", b""), id="a connection that sends nothing is closed"),
        pytest.param(lambda sock: sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: a\r\nContent-Le"),
                     (TIMEOUT_408, b"request head not received within 1 s"), id="a head that stops midway gets 408"),
        pytest.param(trickle(b"GET /healthz HTTP/1.1\r\nHost: a\r\n" + b"X: y\r\n" * 20 + b"\r\n", 0.2),
                     (TIMEOUT_408, b"request head not received within 1 s"),
                     id="a head trickled a byte at a time is cut at the timeout, not kept alive by each byte"),
        pytest.param(lambda sock: sock.sendall(BODY_HEAD + b"\x0a" * 10),
                     (TIMEOUT_408, b"request body stalled for 1 s"), id="a body that stalls gets 408"),
    ],
)
def test_a_client_that_stalls_is_cut_after_the_read_timeout(serve: Serve, sender: Callable[[socket.socket], None],
                                                            expected: tuple[str, bytes]) -> None:
    service = serve(read_timeout_s=1)
    with connect(service) as sock:
        started = time.monotonic()
        thread = threading.Thread(target=sender, args=(sock,))
        thread.start()
        raw = answer(sock)
        elapsed = time.monotonic() - started
        thread.join()
    assert status_and_body(raw) == expected
    assert 0.9 < elapsed < 5
    assert metric(service, 'agentslo_http_refused_total{reason="read_timeout"}') == 1


def test_a_body_that_keeps_arriving_is_not_cut_however_slow(serve: Serve) -> None:
    # The read timeout bounds the silence between two reads of a body, not the whole upload.
    service = serve(read_timeout_s=1)
    body = agent_request().SerializeToString()
    head = (b"POST /v1/traces HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    with connect(service) as sock:
        sock.sendall(head)
        for start in range(0, len(body), len(body) // 4 + 1):
            time.sleep(0.6)
            sock.sendall(body[start:start + len(body) // 4 + 1])
        assert status_and_body(answer(sock))[0] == "HTTP/1.1 200 OK"


def test_bodies_beyond_the_cap_get_503_with_retry_after_before_being_read(serve: Serve) -> None:
    service = serve(ingest={"max_concurrent_bodies": 2})
    stalled = [connect(service), connect(service)]
    for sock in stalled:
        sock.sendall(BODY_HEAD + b"\x0a" * 10)
    request = agent_request().SerializeToString()
    refused: list[httpx.Response] = []

    def third_is_refused() -> bool:
        response = httpx.post(service.http_url + "/v1/traces", content=request, headers=PROTOBUF, timeout=10)
        refused.append(response)
        return response.status_code == 503

    eventually(third_is_refused)
    response = refused[-1]
    assert (response.headers["retry-after"], status_pb2.Status.FromString(response.content).message) == (
        "1", "spans not stored, retry later: 2 request bodies are being received or stored")
    assert httpx.get(service.http_url + "/healthz", timeout=10).status_code == 200
    for sock in stalled:
        sock.close()
    eventually(lambda: httpx.post(service.http_url + "/v1/traces", content=request, headers=PROTOBUF,
                                  timeout=10).status_code == 200)


def test_a_client_that_disconnects_mid_upload_is_counted_not_logged(serve: Serve,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    service = serve()
    caplog.clear()  # start-up's own lines (without API keys, a warning that the service is open)
    with caplog.at_level(logging.INFO):
        with connect(service) as sock:
            sock.sendall(BODY_HEAD + b"\x0a" * 10)
            time.sleep(0.2)  # the request is being read
        eventually(lambda: metric(service, "agentslo_http_client_disconnects_total") == 1)
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []
