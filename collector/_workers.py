"""Decoding and mapping in worker processes.

Decoding and mapping are the biggest CPU cost of a span in the serving process
(compiled, collector._rows) and hold the GIL throughout; there they would queue behind the
receivers and the writer. Worker processes take raw request bodies and give
back mapped rows (Arrow record batches), so two requests map at once while the
serving process answers and ClickHouse inserts. `workers: 0` maps in a thread
of the serving process instead: less memory and less CPU per span, but one
request mapped at a time (bench/README.md, Compiled mapping, has the figures).
"""

from __future__ import annotations

import asyncio
import importlib.abc
import multiprocessing
import os
import sys
import threading
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector._mapping import MappedBatch, MappingPolicy, SpanMapper
from collector._otlp import BodyLimits, OtlpError, decode_body
from collector._pricing import ModelPrice, PriceTable
from ground.errors import Overloaded

# The mapper of this process: set once per worker by _start_worker (or by MappingPool for workers=0).
_mapper: SpanMapper | None = None
_limits = BodyLimits()


def _start_worker(policy: MappingPolicy, prices: tuple[ModelPrice, ...], limits: BodyLimits) -> None:
    global _mapper, _limits
    _mapper = SpanMapper(policy, PriceTable(prices))
    _limits = limits


class _WithoutPandas(importlib.abc.MetaPathFinder):
    """Refuses to import pandas.

    pyarrow imports pandas (~50 MiB) at its first conversion from Python objects,
    only to ask whether they are pandas objects; it takes an ImportError as
    "pandas is not installed". A mapping worker never has pandas objects.
    """

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("pandas is not loaded in AgentSLO's mapping workers")
        return None


def _exit_with_parent() -> None:
    """End this worker process when the serving process ends, however it ends.

    A worker waits on its work queue, whose pipe it holds both ends of: when the
    serving process is killed (kill -9, the OOM killer) nothing tells it to stop,
    and it would wait forever. multiprocessing gives each child it spawns a
    sentinel that turns readable when the parent is gone.
    """
    parent = multiprocessing.parent_process()
    assert parent is not None, "not a process started by multiprocessing"

    def watch() -> None:
        parent.join()
        os._exit(0)  # no clean-up to run: nobody is left to take the results

    threading.Thread(target=watch, name="agentslo-parent-watch", daemon=True).start()


def _start_worker_process(policy: MappingPolicy, prices: tuple[ModelPrice, ...], limits: BodyLimits) -> None:
    _exit_with_parent()
    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, _WithoutPandas())
    _start_worker(policy, prices, limits)


def _map_body(body: bytes, kind: str, encoding: str | None, tenant: str | None) -> MappedBatch:
    assert _mapper is not None, "worker not initialised"
    return _mapper.map(decode_body(body, kind, encoding, _limits), tenant=tenant)


def _map_protobuf(body: bytes, tenant: str | None) -> MappedBatch:
    assert _mapper is not None, "worker not initialised"
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except Exception as exc:  # DecodeError; any failure here is the body's fault
        raise OtlpError(400, f"malformed protobuf ExportTraceServiceRequest: {exc}") from None
    return _mapper.map(request, tenant=tenant)


class MappingPool:
    """Maps request bodies to rows in `workers` processes (or a thread when 0)."""

    def __init__(self, policy: MappingPolicy, prices: PriceTable, limits: BodyLimits, *, workers: int) -> None:
        self._init_args = (policy, prices.entries, limits)
        self._workers = workers
        self._executor = self._new_executor()

    def _new_executor(self) -> Executor:
        if self._workers == 0:
            _start_worker(*self._init_args)
            return ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentslo-mapping")
        # spawn, not fork: the serving process has threads (gRPC, chDB) that fork would copy mid-state.
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker_process,
            initargs=self._init_args,
        )

    async def map_http(self, body: bytes, content_type: str, encoding: str | None,
                       tenant: str | None = None) -> MappedBatch:
        """Rows of an OTLP/HTTP body, stamped with `tenant` if given; raises OtlpError for a body
        that cannot be decoded."""
        return await self._run(_map_body, body, content_type, encoding, tenant)

    async def map_protobuf(self, body: bytes, tenant: str | None = None) -> MappedBatch:
        """Rows of a serialized ExportTraceServiceRequest (as gRPC delivers it), stamped with `tenant` if given."""
        return await self._run(_map_protobuf, body, tenant)

    async def _run(self, function, *args) -> MappedBatch:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, function, *args)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): start a fresh pool; the client retries.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
            raise Overloaded("a mapping worker stopped; restarted the pool") from None

    def close(self) -> None:
        """Stop the workers after the work they hold."""
        self._executor.shutdown(wait=True)

