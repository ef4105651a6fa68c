"""`agentslo serve` as users run it: a real process, real ports, real signals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import SERVER_PASSWORD, SERVER_USER
from tests.support.clickhouse_http import ClickHouseHttpServer

START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Served:
    """A running `agentslo serve` process and its base URL."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10)

    def wait_until(self, path: str, status: int) -> httpx.Response:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self.process.poll() is None, f"server exited: {self.process.communicate()[1]}"
            try:
                response = self.get(path)
                if response.status_code == status:
                    return response
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{path} never answered {status}"
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(sig)
        _, stderr = self.process.communicate(timeout=30)
        return self.process.returncode, stderr


def start(*args: str, env: dict[str, str] | None = None) -> Served:
    port = free_port()
    command = [sys.executable, "-m", "agentslo", "serve", "--http-port", str(port),
               "--grpc-port", str(free_port()), *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **(env or {})})
    return Served(process, f"http://127.0.0.1:{port}")


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Served]:
    served = start("--data", str(tmp_path / "data"))
    yield served
    if served.process.poll() is None:
        served.stop(signal.SIGKILL)


def test_embedded_service_becomes_ready_and_reports_health(embedded: Served) -> None:
    # A replica's name is its host's and its HTTP port unless configured; alone, it evaluates.
    replica = f"{socket.gethostname()}:{embedded.url.rsplit(':', 1)[1]}"
    assert embedded.wait_until("/readyz", 200).json() == {
        "status": "ready", "detail": "ready", "replica": replica, "role": "all", "evaluator": replica}
    assert embedded.get("/healthz").json() == {"status": "ok", "detail": ""}
    metrics = embedded.get("/metrics").text
    assert "agentslo_storage_ready 1.0" in metrics
    assert 'agentslo_build_info{storage="embedded",version="0.1.0"} 1.0' in metrics
    assert f'agentslo_replica_info{{replica="{replica}",role="all"}} 1.0' in metrics
    assert "agentslo_evaluator_lease_held 1.0" in metrics
    assert f'agentslo_evaluator_holder_info{{holder="{replica}"}} 1.0' in metrics
    assert "process_resident_memory_bytes" in metrics
    paths = embedded.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/readyz", "/metrics"} <= set(paths)


def warnings(stderr: str) -> list[str]:
    return [line.split(" WARNING ", 1)[1] for line in stderr.splitlines() if " WARNING " in line]


def test_without_keys_on_loopback_the_service_says_once_that_it_is_open(embedded: Served) -> None:
    embedded.wait_until("/readyz", 200)
    code, stderr = embedded.stop()
    assert code == 0, stderr
    assert warnings(stderr) == ["agentslo: no API keys configured (auth.keys, auth.keys_file): anyone who reaches "
                                "127.0.0.1 can write spans and call the API"]


def test_insecure_no_auth_serves_beyond_loopback_open_and_says_so(tmp_path: Path) -> None:
    served = start("--data", str(tmp_path / "data"), "--host", "0.0.0.0", env={"AGENTSLO_INSECURE_NO_AUTH": "true"})
    try:
        served.wait_until("/readyz", 200)
        assert served.get("/api/v1/slos").status_code == 200
        code, stderr = served.stop()
    finally:
        if served.process.poll() is None:
            served.stop(signal.SIGKILL)
    assert code == 0, stderr
    assert warnings(stderr) == ["agentslo: no API keys configured (auth.keys, auth.keys_file): anyone who reaches "
                                "0.0.0.0 can write spans and call the API (server.insecure_no_auth)"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_shuts_down_cleanly_with_exit_code_0(embedded: Served, sig: int) -> None:
    embedded.wait_until("/readyz", 200)
    code, stderr = embedded.stop(sig)
    assert code == 0, stderr
    assert "agentslo: stopped" in stderr


def test_a_second_process_on_the_same_data_directory_is_refused(embedded: Served, tmp_path: Path) -> None:
    embedded.wait_until("/readyz", 200)
    second = start("--data", str(tmp_path / "data"))
    _, stderr = second.process.communicate(timeout=60)
    assert second.process.returncode == 1
    assert f"data directory {tmp_path / 'data'} is in use by another process (pid {embedded.process.pid})" in stderr


def test_server_backend_is_ready_only_while_clickhouse_answers(clickhouse_server: ClickHouseHttpServer,
                                                              tmp_path: Path) -> None:
    clickhouse_server.set_unavailable(True)
    config = tmp_path / "agentslo.yaml"
    config.write_text("storage:\n  password_env: CLICKHOUSE_PASSWORD\n")
    served = start("--config", str(config), "--replica-name", "r1", env={
        "AGENTSLO_CLICKHOUSE_URL": f"http://{SERVER_USER}@127.0.0.1:{clickhouse_server.port}/x",
        "CLICKHOUSE_PASSWORD": SERVER_PASSWORD,
    })
    try:
        not_ready = served.wait_until("/readyz", 503).json()
        assert not_ready == {"status": "not ready", "detail": "migrations not done yet",
                             "replica": "r1", "role": "all", "evaluator": ""}
        clickhouse_server.set_unavailable(False)
        served.wait_until("/readyz", 200)
        assert 'agentslo_build_info{storage="server"' in served.get("/metrics").text
        clickhouse_server.set_unavailable(True)
        outage = served.wait_until("/readyz", 503).json()
        assert (outage["status"], outage["detail"]) == ("not ready", "storage unavailable")
        clickhouse_server.set_unavailable(False)
        served.wait_until("/readyz", 200)
        code, stderr = served.stop()
        assert code == 0, stderr
    finally:
        clickhouse_server.set_unavailable(False)
        if served.process.poll() is None:
            served.stop(signal.SIGKILL)


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process could hold: bound and listening for the test's duration."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("--http-port", "{taken}"), "cannot listen for OTLP/HTTP and the API on 127.0.0.1:{taken}: "
                     "Address already in use; change --http-port (server.http_port)", id="the HTTP port is in use"),
        pytest.param(("--grpc-port", "{taken}"), "cannot listen for OTLP/gRPC on 127.0.0.1:{taken}: "
                     "Address already in use; change --grpc-port (server.grpc_port)", id="the gRPC port is in use"),
        pytest.param(("--host", "192.0.2.1", "--insecure-no-auth"), "cannot listen for OTLP/HTTP and the API on "
                     "192.0.2.1:{http}: Cannot assign requested address; change --host (server.host)",
                     id="the host is no address of this machine"),
        pytest.param(("--host", "0.0.0.0"), "listening on 0.0.0.0, beyond loopback, with no API keys: configure "
                     "auth.keys or auth.keys_file, change --host (server.host) to a loopback address, or pass "
                     "--insecure-no-auth (server.insecure_no_auth) to serve without authentication",
                     id="all interfaces without API keys"),
        pytest.param(("--host", "192.0.2.1"), "listening on 192.0.2.1, beyond loopback, with no API keys: configure "
                     "auth.keys or auth.keys_file, change --host (server.host) to a loopback address, or pass "
                     "--insecure-no-auth (server.insecure_no_auth) to serve without authentication",
                     id="another address without API keys"),
        pytest.param(("--data", "{tmp}/a-file/data"), "cannot use {tmp}/a-file/data as the data directory: "
                     "Not a directory; change --data (storage.data_dir)", id="the data directory is under a file"),
        pytest.param(("--data", "{tmp}/a-file"), "cannot use {tmp}/a-file as the data directory: "
                     "Not a directory; change --data (storage.data_dir)", id="the data directory is a file"),
        pytest.param(("--config", "{tmp}/deep.yaml"), "deep.yaml: nested more than 32 levels deep",
                     id="the config file nests too deep"),
        pytest.param(("--config", "{tmp}"), "{tmp}: cannot read: Is a directory", id="the config file is a directory"),
        pytest.param(("--clickhouse-url", "http://agentslo:hunter2@127.0.0.1:1/x"),
                     "--clickhouse-url: storage.clickhouse_url: must not contain a password; "
                     "name the variable that holds it in storage.password_env", id="a password in --clickhouse-url"),
    ],
)
def test_a_start_up_error_is_one_line_naming_what_to_change(tmp_path: Path, taken_port: int, args: tuple[str, ...],
                                                            message: str) -> None:
    (tmp_path / "a-file").write_text("")
    (tmp_path / "deep.yaml").write_text("slos: " + "[" * 5000 + "]" * 5000 + "\n")
    http_port = free_port()
    fields = {"tmp": tmp_path, "taken": taken_port, "http": http_port}
    served = start("--data", str(tmp_path / "data"), "--http-port", str(http_port),
                   *(arg.format(**fields) for arg in args))
    stdout, stderr = served.process.communicate(timeout=START_TIMEOUT_S)
    assert (served.process.returncode, stdout, stderr) == (1, "", f"error: {message.format(**fields)}\n")


def test_start_up_says_which_config_it_loaded_and_what_it_declares(tmp_path: Path) -> None:
    config = tmp_path / "agentslo.yaml"
    config.write_text("slos: [{name: tasks, objective: 99, window: 1d, sli: {kind: availability}}]\n"
                      "budgets: [{name: daily, period: day, limit_usd: 10}]\n")
    served = start("--config", str(config), "--data", str(tmp_path / "data"))
    served.wait_until("/readyz", 200)
    code, stderr = served.stop()
    assert code == 0, stderr
    assert f"agentslo: config: {config}: storage: embedded, 1 SLO, 1 spend budget, 0 receivers" in stderr
