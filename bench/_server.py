"""The server under test: started by the bench on a fresh embedded store, or already running.

A `ServerProbe` reads the server's memory and CPU: from /proc for a process the
bench started (the process and its descendants), from the Prometheus
`process_*` metrics at /metrics for one it did not.
"""

from __future__ import annotations

import http.client
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

__all__ = ["BenchError", "MetricsProbe", "ProcProbe", "ServerProbe", "StartedServer", "StoppedServer", "http_get"]

READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0
_CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """The bench could not run: the server did not start, or refused the first batch."""


class ServerProbe(Protocol):
    """Resource use of the server under test; None where it cannot be read."""

    def rss_bytes(self) -> int | None:
        """Resident memory now."""

    def cpu_s(self) -> float | None:
        """CPU seconds (user + system) used so far."""

    def peak_rss_bytes(self) -> int | None:
        """Highest resident memory since the server started, if the system keeps it."""

    def cpu_s_by_thread(self) -> dict[str, float] | None:
        """CPU seconds used so far by each kind of thread (see ProcProbe), if it can be read."""


def http_get(url: str, path: str, *, timeout_s: float = 5.0) -> tuple[int, bytes]:
    """GET `path` on the server at `url`: (status, body). Raises OSError when it does not answer."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout_s)
    try:
        connection.request("GET", parts.path.rstrip("/") + path)
        response = connection.getresponse()
        return response.status, response.read()
    except http.client.HTTPException as exc:
        raise OSError(str(exc)) from exc
    finally:
        connection.close()


class MetricsProbe:
    """Reads `process_resident_memory_bytes` and `process_cpu_seconds_total` from /metrics."""

    def __init__(self, url: str) -> None:
        self._url = url

    def _metric(self, name: str) -> float | None:
        try:
            status, body = http_get(self._url, "/metrics")
        except OSError:
            return None
        match = re.search(rb"^" + name.encode() + rb"(?:\{[^}]*\})? ([0-9.eE+-]+)$", body, re.MULTILINE)
        return float(match.group(1)) if status == 200 and match else None

    def rss_bytes(self) -> int | None:
        value = self._metric("process_resident_memory_bytes")
        return None if value is None else int(value)

    def cpu_s(self) -> float | None:
        return self._metric("process_cpu_seconds_total")

    def peak_rss_bytes(self) -> int | None:
        return None

    def cpu_s_by_thread(self) -> dict[str, float] | None:
        return None


class ProcProbe:
    """Reads /proc for a process and all its descendants (summed)."""

    def __init__(self, pid: int) -> None:
        self._pid = pid

    def _tree(self) -> list[int]:
        pids, index = [self._pid], 0
        while index < len(pids):
            task_dir = Path(f"/proc/{pids[index]}/task")
            try:
                for task in task_dir.iterdir():
                    pids += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                pass
            index += 1
        return pids

    def _status_kib(self, field: str) -> int | None:
        total, found = 0, False
        for pid in self._tree():
            try:
                text = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            match = re.search(rf"^{field}:\s+(\d+) kB$", text, re.MULTILINE)
            if match:
                total, found = total + int(match.group(1)), True
        return total * 1024 if found else None

    def rss_bytes(self) -> int | None:
        return self._status_kib("VmRSS")

    def peak_rss_bytes(self) -> int | None:
        return self._status_kib("VmHWM")

    def cpu_s_by_thread(self) -> dict[str, float] | None:
        """CPU seconds by kind of thread: the mapping worker processes together, ClickHouse's
        merges, and each other thread name of the serving process (digits dropped, so that
        a pool's threads count together)."""
        seconds: dict[str, float] = {}
        for pid in self._tree():
            for task in Path(f"/proc/{pid}/task").glob("*"):
                try:
                    stat = (task / "stat").read_text()
                except OSError:
                    continue
                name = stat[stat.index("(") + 1:stat.rindex(")")]
                fields = stat[stat.rindex(")") + 2:].split()
                if pid != self._pid:
                    label = "mapping workers"
                elif name == "MergeMutate":
                    label = "ClickHouse merges"
                elif int(task.name) == pid:
                    label = "serving: main thread"
                elif name == "python":  # threads Python started (executors), not named by ClickHouse or gRPC
                    label = "serving: Python threads"
                else:
                    label = "serving: " + re.sub(r"\d+", "#", name)
                seconds[label] = seconds.get(label, 0.0) + (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS_PER_S
        return seconds or None

    def cpu_s(self) -> float | None:
        ticks, found = 0, False
        for pid in self._tree():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "; utime, stime are fields 14, 15
            ticks, found = ticks + int(fields[11]) + int(fields[12]), True
        return ticks / _CLOCK_TICKS_PER_S if found else None


@dataclass
class StoppedServer:
    """How the started server ended."""

    exit_code: int | None  # None: it did not stop within STOP_TIMEOUT_S and was killed
    stop_s: float
    log_tail: str  # the end of its output when it did not exit 0, else ""


class StartedServer:
    """`python -m agentslo serve` on a fresh data directory and free loopback ports; with `config`
    (YAML text) as its config file, and `files` (name -> text) beside it. `{dir}` in either is
    the directory they are written to."""

    def __init__(self, config: str | None = None, files: dict[str, str] | None = None) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="agentslo-bench-"))
        http_port, grpc_port = _free_ports(2)
        self.url = f"http://127.0.0.1:{http_port}"
        self.grpc_target = f"127.0.0.1:{grpc_port}"
        self.command = [sys.executable, "-m", "agentslo", "serve", "--data", str(self._dir / "data"),
                        "--http-port", str(http_port), "--grpc-port", str(grpc_port)]
        for name, text in (files or {}).items():
            (self._dir / name).write_text(text.replace("{dir}", str(self._dir)))
        if config is not None:
            (self._dir / "agentslo.yaml").write_text(config.replace("{dir}", str(self._dir)))
            self.command += ["--config", str(self._dir / "agentslo.yaml")]
        self._log_path = self._dir / "server.log"
        with self._log_path.open("wb") as log:
            self._process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL)
        self.probe = ProcProbe(self._process.pid)

    @property
    def command_line(self) -> str:
        """The command that started it, for the report."""
        return shlex.join(self.command)

    def wait_ready(self) -> float:
        """Wait for GET /readyz to answer 200; return the seconds it took."""
        started = time.monotonic()
        last = "no answer"
        while time.monotonic() - started < READY_TIMEOUT_S:
            if self._process.poll() is not None:
                raise BenchError(f"the server exited with code {self._process.returncode} before it was ready"
                                 f"\n{self.log_tail()}")
            try:
                status, body = http_get(self.url, "/readyz", timeout_s=2.0)
            except OSError as exc:
                last = str(exc)
            else:
                if status == 200:
                    return time.monotonic() - started
                last = f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}"
            time.sleep(0.25)
        raise BenchError(f"the server was not ready after {READY_TIMEOUT_S:.0f} s (last /readyz: {last})"
                         f"\n{self.log_tail()}")

    def exited(self) -> int | None:
        """The exit code if the process has already ended."""
        return self._process.poll()

    def stop(self) -> StoppedServer:
        """SIGTERM, wait for a clean exit (SIGKILL after STOP_TIMEOUT_S), remove its data directory."""
        started = time.monotonic()
        try:
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGTERM)
            try:
                exit_code: int | None = self._process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
                exit_code = None
            stop_s = time.monotonic() - started
            return StoppedServer(exit_code, stop_s, self.log_tail() if exit_code != 0 else "")
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)

    def log_tail(self, lines: int = 25) -> str:
        """The end of the server's output, to explain a failure."""
        try:
            text = self._log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "server log (last lines):\n" + "\n".join(text.splitlines()[-lines:])


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
