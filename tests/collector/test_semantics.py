"""Specification of what a span's attributes mean: the mapping rules, and the precedence of every
attribute family AgentSLO reads (GenAI conventions, their deprecated names, OpenInference, OpenLLMetry).

The rules are collector._semantics, apart from the wire reader; the precedence
tables are collector._attributes. The precedence cases go through the real
compiled mapper, so the reader and the rules are checked together.
"""

from __future__ import annotations

from datetime import date

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from collector import PriceTable
from collector._semantics import cost, degraded, error_type, is_model_call, operation, reported_cost, token_count
from tests.collector.otlp_requests import span
from tests.collector.test_mapping import mapped_row

GPT4O = PriceTable.default().lookup("gpt-4o", at=date(2026, 1, 1))


@pytest.mark.parametrize(("named", "synonym", "table", "expected"), [
    pytest.param("chat", "AGENT", 0, "chat", id="gen_ai.operation.name wins over any synonym"),
    pytest.param("", "LLM", 0, "chat", id="OpenInference span kind LLM is a chat"),
    pytest.param("", "TOOL", 0, "execute_tool", id="OpenInference TOOL is execute_tool"),
    pytest.param("", "completion", 1, "text_completion", id="OpenLLMetry request type completion"),
    pytest.param("", "agent", 2, "invoke_agent", id="Traceloop span kind agent"),
    pytest.param("", "RERANKER", 0, "", id="a kind without a synonym names no operation"),
    pytest.param("", "", 0, "", id="nothing said"),
])
def test_operation(named: str, synonym: str, table: int, expected: str) -> None:
    assert operation(named, synonym, table) == expected


@pytest.mark.parametrize(("op", "model", "tokens", "expected"), [
    pytest.param("chat", "", (0, 0), True, id="a chat is a model call, even without a model"),
    pytest.param("embeddings", "text-embedding-3-small", (10, 0), True, id="embeddings are model calls"),
    pytest.param("invoke_agent", "gpt-4o", (1000, 200), False,
                 id="an agent span repeating its children's totals is not a model call"),
    pytest.param("execute_tool", "", (0, 0), False, id="a tool call is not"),
    pytest.param("", "gpt-4o", (0, 0), True, id="no operation but a model: a model call"),
    pytest.param("", "", (0, 5), True, id="no operation but tokens: a model call"),
    pytest.param("", "", (0, 0), False, id="a plain span is not"),
])
def test_is_model_call(op: str, model: str, tokens: tuple[int, int], expected: bool) -> None:
    assert is_model_call(op, model, *tokens) is expected


@pytest.mark.parametrize(("reported", "model_call", "price", "expected"), [
    pytest.param(0.25, True, GPT4O, (0.25, "reported"), id="a reported cost wins over the price table"),
    pytest.param(0.0, False, None, (0.0, "reported"), id="a reported zero is a reported cost, model call or not"),
    pytest.param(None, True, GPT4O, (pytest.approx(0.004), "priced"), id="a model call priced by its model"),
    pytest.param(None, True, None, (0.0, "unpriced"), id="a model call without a price: 0, unpriced"),
    pytest.param(None, False, GPT4O, (0.0, ""), id="not a model call: no cost, no source"),
])
def test_cost_and_its_source(reported, model_call, price, expected) -> None:
    # 1,000 input tokens (400 of them cache reads) and 200 output tokens: at gpt-4o's $2.50 / $1.25 / $10
    # per million, 600 * 2.5 + 400 * 1.25 + 200 * 10 = 4,000 micro-dollars.
    assert cost(reported, model_call, price, 1000, 200, 400, 0) == expected


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("0.012", 0.012, id="a number"), pytest.param("", None, id="absent"),
    pytest.param("-1", None, id="negative: not a cost"), pytest.param("nan", None, id="not a number"),
    pytest.param("inf", None, id="infinite"), pytest.param("$3", None, id="text"),
])
def test_reported_cost(text: str, expected: float | None) -> None:
    assert reported_cost(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("1200", 1200, id="decimal"), pytest.param("1e3", 1000, id="exponent"),
    pytest.param(str(1 << 64), 0, id="past UInt64: 0"), pytest.param("-3", 0, id="negative: 0"),
])
def test_token_count(text: str, expected: int) -> None:
    assert token_count(text) == expected


@pytest.mark.parametrize(("attribute", "exception", "status", "expected"), [
    pytest.param("timeout", "TimeoutError", "Error", "timeout", id="error.type wins"),
    pytest.param("", "openai.RateLimitError", "Error", "openai.RateLimitError", id="else the exception's type"),
    pytest.param("", "", "Error", "_OTHER", id="a failed span without a type: _OTHER, as semconv says"),
    pytest.param("", "", "Unset", "", id="no error, no type"),
    pytest.param("<class 'openai.InternalServerError'>", "", "Error", "openai.InternalServerError",
                 id="a class written as its repr is its qualified name"),
    pytest.param("", "<class 'httpx.ReadTimeout'>", "Error", "httpx.ReadTimeout",
                 id="the exception's type too"),
])
def test_error_type(attribute: str, exception: str, status: str, expected: str) -> None:
    assert error_type(attribute, exception, status) == expected


@pytest.mark.parametrize(("attribute", "source", "expected"), [
    pytest.param("true", "", True, id="flagged degraded"), pytest.param("TRUE", "", True, id="in any case"),
    pytest.param("", "secondary", True, id="served by the secondary model"),
    pytest.param("", "cache", True, id="served from cache"),
    pytest.param("", "primary", False, id="the primary is not degraded"),
    pytest.param("false", "", False, id="nothing says so"),
])
def test_degraded(attribute: str, source: str, expected: bool) -> None:
    assert degraded(attribute, source) is expected


# ----------------------------------------------------------------------------- precedence through the mapper

# (column, the attribute that wins, the one it wins over): each family against the next.
PRECEDENCE = [
    ("InputTokens", "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "GenAI over its deprecated name"),
    ("InputTokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt", "deprecated GenAI over OpenInference"),
    ("InputTokens", "llm.token_count.prompt", "llm.usage.prompt_tokens", "OpenInference over OpenLLMetry"),
    ("OutputTokens", "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "GenAI over deprecated"),
    ("OutputTokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion", "deprecated over OpenInference"),
    ("OutputTokens", "llm.token_count.completion", "llm.usage.completion_tokens", "OpenInference over OpenLLMetry"),
    ("CacheReadTokens", "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
     "semconv 1.38 over the earlier spelling"),
    ("CacheReadTokens", "gen_ai.usage.cache_read_input_tokens", "llm.token_count.prompt_details.cache_read",
     "GenAI spelling over OpenInference"),
    ("CacheWriteTokens", "gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens",
     "semconv over the earlier spelling"),
    ("CacheWriteTokens", "gen_ai.usage.cache_creation_input_tokens", "llm.token_count.prompt_details.cache_write",
     "GenAI spelling over OpenInference"),
    ("GenAiProvider", "gen_ai.provider.name", "gen_ai.system", "GenAI over its deprecated name"),
    ("GenAiProvider", "gen_ai.system", "llm.provider", "deprecated GenAI over OpenInference"),
    ("GenAiProvider", "llm.provider", "llm.system", "OpenInference provider over its system"),
    ("RequestModel", "gen_ai.request.model", "llm.request.model", "GenAI over OpenLLMetry"),
    ("RequestModel", "llm.request.model", "llm.model_name", "OpenLLMetry over OpenInference"),
    ("ResponseModel", "gen_ai.response.model", "llm.response.model", "GenAI over OpenLLMetry"),
    ("CostUsd", "gen_ai.usage.cost", "llm.cost.total", "GenAI over OpenInference"),
    ("CostUsd", "llm.cost.total", "agentslo.cost.usd", "OpenInference over AgentSLO's own"),
    ("ErrorType", "error.type", "exception.type", "semconv error.type over an exception.type attribute"),
]
NUMERIC = {"InputTokens", "OutputTokens", "CacheReadTokens", "CacheWriteTokens", "CostUsd"}


@pytest.mark.parametrize(("column", "winner", "loser"), [(c, w, l) for c, w, l, _ in PRECEDENCE],
                         ids=[f"{c}: {why}" for c, _, _, why in PRECEDENCE])
def test_an_attribute_wins_over_the_families_after_it(column: str, winner: str, loser: str) -> None:
    values = ("300", "200") if column in NUMERIC else ("first", "second")
    chat = span(0, "chat", {"gen_ai.operation.name": "chat", winner: values[0], loser: values[1]})
    expected = float(values[0]) if column in NUMERIC else values[0]
    assert mapped_row(chat)[column] == expected
    alone = span(0, "chat", {"gen_ai.operation.name": "chat", loser: values[1]})
    assert mapped_row(alone)[column] == (float(values[1]) if column in NUMERIC else values[1])


def test_the_mapper_prices_with_the_rules() -> None:
    chat = span(0, "chat gpt-4o", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                                   "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 200,
                                   "gen_ai.usage.cache_read.input_tokens": 400})
    row = mapped_row(chat)
    assert (row["CostUsd"], row["CostSource"]) == cost(None, True, GPT4O, 1000, 200, 400, 0)
    failed = span(0, "chat", {"gen_ai.operation.name": "chat"}, status=Status(code=Status.STATUS_CODE_ERROR))
    assert mapped_row(failed)["ErrorType"] == "_OTHER"
