"""OTLP receivers, span -> row mapping, pricing and the batching writer.

So far: the price table and cost computation.
"""

from collector._pricing import ModelPrice, PriceTable, cost_usd, normalise_model_name, parse_price_entries

__all__ = ["ModelPrice", "PriceTable", "cost_usd", "normalise_model_name", "parse_price_entries"]
