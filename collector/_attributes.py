"""Attribute aliases: which span attributes feed each typed LLM column.

Policy is data: each tuple is tried in order and the first attribute present
wins. Order: the current OpenTelemetry GenAI semantic conventions
(semconv 1.37+, gen_ai.*), then their deprecated names, then OpenInference
(Arize, llm.*) and OpenLLMetry (Traceloop, llm.* / traceloop.*) names, then
AgentSLO's own `agentslo.*` vocabulary for what the conventions lack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

OPERATION = ("gen_ai.operation.name",)
PROVIDER = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
REQUEST_MODEL = ("gen_ai.request.model", "llm.request.model", "llm.model_name")
RESPONSE_MODEL = ("gen_ai.response.model", "llm.response.model")
INPUT_TOKENS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",  # deprecated GenAI name
    "llm.token_count.prompt",  # OpenInference
    "llm.usage.prompt_tokens",  # OpenLLMetry
)
OUTPUT_TOKENS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "llm.usage.completion_tokens",
)
CACHE_READ_TOKENS = (
    "gen_ai.usage.cache_read.input_tokens",  # semconv 1.38
    "gen_ai.usage.cache_read_input_tokens",  # OpenLLMetry and earlier drafts
    "llm.token_count.prompt_details.cache_read",  # OpenInference
)
CACHE_WRITE_TOKENS = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "llm.token_count.prompt_details.cache_write",
)
# A cost the instrumentation computed itself wins over our price table.
REPORTED_COST = ("gen_ai.usage.cost", "llm.cost.total", "agentslo.cost.usd")
ERROR_TYPE = ("error.type", "exception.type")
FALLBACK_SOURCE = ("agentslo.fallback.source",)
DEGRADED = ("agentslo.degraded",)

# Operations that are calls to a model: only these are priced, so that an agent
# span repeating its children's token totals is not counted twice.
MODEL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})

# OpenInference and OpenLLMetry say what a span is in their own words; map those
# onto gen_ai.operation.name values so that one column answers "what is this call".
OPERATION_SYNONYMS: dict[str, dict[str, str]] = {
    "openinference.span.kind": {
        "LLM": "chat",
        "EMBEDDING": "embeddings",
        "TOOL": "execute_tool",
        "AGENT": "invoke_agent",
    },
    "llm.request.type": {"chat": "chat", "completion": "text_completion", "embedding": "embeddings"},
    "traceloop.span.kind": {"tool": "execute_tool", "agent": "invoke_agent"},
}


@dataclass(frozen=True)
class DimensionAliases:
    """Attribute names feeding the attribution columns; span attributes first, then resource.

    Configurable because teams already tag users and tenants in their own words.
    """

    user: tuple[str, ...] = ("user.id", "enduser.id", "agentslo.user")
    tenant: tuple[str, ...] = ("agentslo.tenant", "tenant.id")
    agent: tuple[str, ...] = ("gen_ai.agent.name", "agentslo.agent")
    task_type: tuple[str, ...] = ("agentslo.task.type",)
    feature: tuple[str, ...] = ("agentslo.feature",)


# Prompt and completion contents: dropped at ingest unless capture_content is on.
CONTENT_ATTRIBUTES = frozenset({
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "input.value",  # OpenInference
    "output.value",
})
CONTENT_PREFIXES = (
    "gen_ai.prompt",  # deprecated indexed form: gen_ai.prompt.0.content
    "gen_ai.completion",
    "llm.input_messages",  # OpenInference
    "llm.output_messages",
    "llm.prompts",
)
# Events that carry message contents (deprecated GenAI event API and its successor).
CONTENT_EVENTS = frozenset({
    "gen_ai.content.prompt",
    "gen_ai.content.completion",
    "gen_ai.system.message",
    "gen_ai.user.message",
    "gen_ai.assistant.message",
    "gen_ai.tool.message",
    "gen_ai.choice",
    "gen_ai.client.inference.operation.details",
})


def is_content_attribute(key: str) -> bool:
    """Whether an attribute holds prompt or completion text."""
    return key in CONTENT_ATTRIBUTES or key.startswith(CONTENT_PREFIXES)


def alias_index(tables: Sequence[tuple[str, ...]]) -> dict[str, tuple[tuple[int, int], ...]]:
    """For each attribute name in `tables`: (table number, position in that table) of every place it appears.

    Lets a mapper resolve every alias table in one pass over a span's attributes
    instead of probing each table's names in turn: per table, the present,
    non-empty attribute with the lowest position wins, as in trying them in order.

    >>> alias_index([("a", "b"), ("b",)])
    {'a': ((0, 0),), 'b': ((0, 1), (1, 0))}
    """
    index: dict[str, list[tuple[int, int]]] = {}
    for number, table in enumerate(tables):
        for position, key in enumerate(table):
            places = index.setdefault(key, [])
            if all(seen != number for seen, _ in places):  # a name listed twice counts where it first appears
                places.append((number, position))
    return {key: tuple(places) for key, places in index.items()}
