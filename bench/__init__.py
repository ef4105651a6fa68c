"""Benchmarks that drive a running AgentSLO over its public interfaces (`python -m bench.ingest`)."""
