"""SIGTERM while spans stream in: the process exits 0 and every acknowledged span is stored."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

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
