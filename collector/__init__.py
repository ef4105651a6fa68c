"""OTLP receivers (HTTP and gRPC), span -> row mapping, pricing and the group-commit writer."""

from collector._attributes import DimensionAliases
from collector._grpc import create_grpc_server
from collector._http import otlp_http_router
from collector._ingest import Ingest, IngestMetrics
from collector._mapping import COST_UNPRICED, MappedBatch, MappingPolicy, SpanMapper
from collector._otlp import BodyLimits
from collector._pricing import ModelPrice, PriceTable, cost_usd, normalise_model_name, parse_price_entries
from collector._workers import MappingPool
from collector._writer import BatchWriter

__all__ = [
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
    "SpanMapper",
    "cost_usd",
    "create_grpc_server",
    "normalise_model_name",
    "otlp_http_router",
    "parse_price_entries",
]
