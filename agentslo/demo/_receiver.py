"""The demo's alert receiver: a webhook on loopback that keeps the Alertmanager messages AgentSLO sends,
and the one line the demo prints for each alert.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["AlertReceiver", "alert_line"]


class AlertReceiver:
    """Accepts `POST /hook` with an Alertmanager webhook message (200) and keeps each one's JSON."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """Where AgentSLO's receiver config points."""
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> AlertReceiver:
        """Listen on a free loopback port, in a thread."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    message = json.loads(body)
                except ValueError:
                    self.send_response(400)
                else:
                    with owner._lock:
                        owner._messages.append(message)
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True, name="alert-receiver").start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def messages(self) -> list[dict[str, Any]]:
        """Every message received so far, in order."""
        with self._lock:
            return list(self._messages)


def alert_line(status: str, labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    """One alert in one line: firing or resolved, severity, what it is about, and its figures (burn rates over
    the long and the short window, or a budget's spend).

    >>> alert_line("firing", {"alertname": "SloErrorBudgetBurn", "slo": "checkout", "severity": "page",
    ...            "long_window": "1h", "short_window": "5m"},
    ...            {"burn_rate_long": "15.2x", "burn_rate_short": "30.0x", "burn_factor": "14.4"})
    'FIRING   page   checkout  windows 1h/5m  burn 15.2x/30.0x (alert at 14.4x)  budget left 97.9%'
    """
    head = f"{status.upper():<8} {labels.get('severity', ''):<6}"
    if "budget" in labels:
        member = next((f" ({name} {labels[name]})" for name in ("tenant", "user", "agent") if name in labels), "")
        return (f"{head} spend budget {labels['budget']}{member} reached {labels.get('level', '')}: "
                f"${float(annotations.get('spent_usd', 'nan')):.2f} of ${annotations.get('limit_usd', '?')} "
                f"this {labels.get('period', 'period')}, projected ${annotations.get('projected_usd', '?')}")
    about = f"{head} {labels.get('slo', '')}"
    if "long_window" in labels:
        about += (f"  windows {labels['long_window']}/{labels['short_window']}  burn "
                  f"{annotations.get('burn_rate_long', '-')}/{annotations.get('burn_rate_short', '-')}")
        if status == "firing":
            about += f" (alert at {annotations.get('burn_factor', '?')}x)"
    return about
