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


@dataclass(frozen=True)
class ContentNames:
    """Where one instrumentation family records message text: attribute names, name prefixes, event names."""

    family: str
    attributes: frozenset[str] = frozenset()  # exact attribute names
    prefixes: tuple[str, ...] = ()  # every attribute name starting so: flattened lists (`llm.prompts.0.content`)
    events: frozenset[str] = frozenset()  # span events that are message text, dropped whole


# Prompts, completions, tool arguments and results, retrieved documents: what users
# and models wrote. Dropped at ingest unless `ingest.capture_content` is on: from
# span, event, link and resource attributes alike, and whole events. One entry per
# instrumentation family we read, each with where its names come from. A check is a
# set look-up and one `str.startswith` over the prefixes, and the mapper remembers
# each key's answer: never a pattern per attribute.
CONTENT: tuple[ContentNames, ...] = (
    # OpenTelemetry GenAI semantic conventions (open-telemetry/semantic-conventions-genai,
    # model/gen-ai/registry.yaml): the attributes it marks "may contain sensitive
    # information", the retrieved documents and the evaluator's free-form explanation
    # (it quotes what it judges). The inference details event carries the messages.
    ContentNames(
        "OpenTelemetry GenAI",
        attributes=frozenset({
            "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
            "gen_ai.tool.call.arguments", "gen_ai.tool.call.result",
            "gen_ai.retrieval.query.text", "gen_ai.retrieval.documents",
            "gen_ai.memory.query.text", "gen_ai.memory.records", "gen_ai.evaluation.explanation",
        }),
        events=frozenset({"gen_ai.client.inference.operation.details"}),
    ),
    # Their deprecated forms: span attributes gen_ai.prompt / gen_ai.completion (semconv
    # up to 1.27), then the content events of semconv 1.28-1.36 (gen-ai-events.md), which
    # OpenLLMetry also emits with use_legacy_attributes=False.
    ContentNames(
        "OpenTelemetry GenAI, deprecated",
        attributes=frozenset({"gen_ai.prompt", "gen_ai.completion"}),
        events=frozenset({
            "gen_ai.content.prompt", "gen_ai.content.completion", "gen_ai.system.message",
            "gen_ai.user.message", "gen_ai.assistant.message", "gen_ai.tool.message", "gen_ai.choice",
        }),
    ),
    # OpenInference (Arize-ai/openinference, openinference-semantic-conventions,
    # semconv/trace/__init__.py): a span's input and output, messages and their contents,
    # prompt templates and their variables, completions-API prompts and choices, function
    # calls, retrieved, reranked and embedded documents. Not tool definitions
    # (`llm.tools`, `tool.parameters`: a JSON schema written by the developer).
    ContentNames(
        "OpenInference",
        attributes=frozenset({
            "input.value", "output.value", "llm.prompts", "llm.choices", "llm.function_call",
            "llm.prompt_template.template", "llm.prompt_template.variables", "reranker.query",
            "embedding.embeddings",
        }),
        prefixes=(
            "llm.input_messages.", "llm.output_messages.", "llm.prompts.", "llm.choices.",
            "retrieval.documents.", "reranker.input_documents.", "reranker.output_documents.",
            "embedding.embeddings.",
        ),
    ),
    # OpenLLMetry / Traceloop (traceloop/openllmetry, opentelemetry-semantic-conventions-ai,
    # semconv_ai/__init__.py): indexed prompts and completions (gen_ai.prompt.0.content,
    # llm.prompts.0.content and llm.completions.0.content before 0.4), a workflow's entity
    # input and output, managed prompt templates, MCP requests and responses, vector DB
    # result documents.
    ContentNames(
        "OpenLLMetry",
        attributes=frozenset({
            "traceloop.entity.input", "traceloop.entity.output", "traceloop.prompt.template",
            "traceloop.prompt.template_variables", "mcp.request.argument", "mcp.response.value",
            "db.query.result.document", "llm.completions",
        }),
        prefixes=("gen_ai.prompt.", "gen_ai.completion.", "llm.prompts.", "llm.completions."),
    ),
    # Vercel AI SDK (vercel/ai, content/docs/03-ai-sdk-core/60-telemetry.mdx): what it
    # records under recordInputs / recordOutputs: the prompt and everything under
    # ai.prompt. (messages, tools, tool choice), the response's text, reasoning, object,
    # files and tool calls, tool call arguments and results, embedded values and their
    # embeddings, reranked documents; ai.result.* in AI SDK 3.
    ContentNames(
        "Vercel AI SDK",
        attributes=frozenset({
            "ai.prompt", "ai.response.text", "ai.response.reasoning", "ai.response.object",
            "ai.response.files", "ai.response.toolCalls", "ai.toolCall.args", "ai.toolCall.result",
            "ai.value", "ai.values", "ai.embedding", "ai.embeddings", "ai.documents", "ai.ranking",
        }),
        prefixes=("ai.prompt.", "ai.result."),
    ),
    # MLflow tracing (mlflow/mlflow, mlflow/tracing/constant.py: SpanAttributeKey and
    # TraceMetadataKey): a span's inputs and outputs, the chat messages of LLM spans,
    # a trace's inputs and outputs. Not mlflow.chat.tools (tool definitions).
    ContentNames(
        "MLflow",
        attributes=frozenset({
            "mlflow.spanInputs", "mlflow.spanOutputs", "mlflow.chat.messages",
            "mlflow.traceInputs", "mlflow.traceOutputs",
        }),
    ),
    # Sentry's AI monitoring (getsentry/sentry-javascript, packages/core/src/utils/ai/
    # gen-ai-attributes.ts): the gen_ai.* names outside the conventions that it records
    # under recordInputs / recordOutputs, and a tool call's input and output.
    ContentNames(
        "Sentry AI monitoring",
        attributes=frozenset({
            "gen_ai.request.messages", "gen_ai.response.text", "gen_ai.response.tool_calls",
            "gen_ai.tool.input", "gen_ai.tool.output",
        }),
    ),
    # Langfuse (langfuse/langfuse-python, langfuse/_client/attributes.py): an observation's
    # and a trace's input and output, as its SDKs and its OpenTelemetry export write them.
    # Not its metadata, usage or model parameters.
    ContentNames(
        "Langfuse",
        attributes=frozenset({
            "langfuse.observation.input", "langfuse.observation.output", "langfuse.trace.input",
            "langfuse.trace.output",
        }),
    ),
    # Pydantic Logfire's LLM client instrumentation (pydantic/logfire, logfire/_internal/
    # integrations/llm_providers): the request it sent and the response it got, as JSON.
    # Pydantic AI's instrumented agent, model request and tool spans (pydantic/pydantic-ai):
    # an agent run's messages and result, a model request's messages as one `events`
    # attribute (its instrumentation version 1), a tool call's arguments and response.
    ContentNames(
        "Pydantic Logfire and Pydantic AI",
        attributes=frozenset({
            "request_data", "response_data", "pydantic_ai.all_messages", "all_messages_events", "final_result",
            "events", "tool_arguments", "tool_response",
        }),
    ),
    # Hand-written instrumentation: the event names such code gives a prompt and its
    # answer (span.add_event("llm.prompt", {"prompt": ...}), common in public code).
    ContentNames(
        "hand-written spans",
        events=frozenset({"prompt", "completion", "llm.prompt", "llm.completion", "llm.response"}),
    ),
)
CONTENT_ATTRIBUTES = frozenset().union(*(names.attributes for names in CONTENT))
CONTENT_PREFIXES = tuple(prefix for names in CONTENT for prefix in names.prefixes)
CONTENT_EVENTS = frozenset().union(*(names.events for names in CONTENT))
# Names under a content prefix that are not content: the conventions' gen_ai.prompt.name
# identifies a prompt template ("analyze-code"), beside OpenLLMetry's gen_ai.prompt.0.content.
NOT_CONTENT = frozenset({"gen_ai.prompt.name"})


def is_content_attribute(key: str) -> bool:
    """Whether an attribute holds prompt or completion text (CONTENT)."""
    return key in CONTENT_ATTRIBUTES or (key.startswith(CONTENT_PREFIXES) and key not in NOT_CONTENT)


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
