"""OTLP receivers (HTTP and gRPC), span -> row mapping, pricing and the group-commit writer."""

import importlib
from typing import Any

from collector._attributes import DimensionAliases
from collector._columns import COST_UNPRICED, SpanBlock
from collector._columns import insert_body as spans_insert_body
from collector._ingest import Ingest, IngestMetrics
from collector._mapping import MappedBatch, MappingPolicy, SpanMapper
from collector._otlp import BodyLimits
from collector._pricing import ModelPrice, PriceTable, cost_usd, normalise_model_name, parse_price_entries
from collector._rate_limit import RateLimit, TenantRateLimiter
from collector._workers import MappingPool
from collector._writer import MAX_BATCH_ROWS, MAX_PENDING_ROWS, BatchWriter

__all__ = [
    "MAX_BATCH_ROWS",
    "MAX_PENDING_ROWS",
    "COST_UNPRICED",
    "BatchWriter",
    "BodyLimits",
    "DimensionAliases",
    "Ingest",
    "IngestMetrics",
    "MappedBatch",
    "MappingPolicy",
    "MappingPool",
    "ModelPrice",
    "PriceTable",
    "RateLimit",
    "SpanBlock",
    "SpanMapper",
    "TenantRateLimiter",
    "cost_usd",
    "create_grpc_server",
    "normalise_model_name",
    "otlp_http_router",
    "parse_price_entries",
    "spans_insert_body",
    "stored_span_keys",
]

# The receivers load gRPC and FastAPI when first asked for, the reader of stored spans the
# storage drivers. Mapping worker processes import this package for the mapper alone, and
# each would otherwise carry ~30 MiB of servers and clients it never runs.
_ON_FIRST_USE = {"create_grpc_server": "collector._grpc", "otlp_http_router": "collector._http",
                 "stored_span_keys": "collector._stored_spans"}


def __getattr__(name: str) -> Any:
    if name in _ON_FIRST_USE:
        return getattr(importlib.import_module(_ON_FIRST_USE[name]), name)
    raise AttributeError(f"module 'collector' has no attribute {name!r}")
