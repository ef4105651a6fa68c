"""Spans as the instrumentation libraries AgentSLO reads emit them, content told apart from metadata.

Each `LibrarySpan` holds what its library sets on one kind of span: `kept`
(model, tokens, names, ids: stored as sent) and `content` (prompts, completions,
tool arguments and results, documents: dropped at ingest unless content capture
is on), and its events likewise. The names and shapes follow each library's own
conventions (see collector/_attributes.py, CONTENT, for the sources).

Content values are templates: `emit` writes them with a marker in front, so a
test can look for the marker anywhere.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

Attributes = Mapping[str, AttributeValue]


@dataclass(frozen=True)
class LibraryEvent:
    """A span event: `content_event` when the whole event is message text."""

    name: str
    kept: Attributes = field(default_factory=dict)
    content: Attributes = field(default_factory=dict)
    content_event: bool = False


@dataclass(frozen=True)
class LibrarySpan:
    library: str
    name: str  # unique among SPANS
    kept: Attributes
    content: Attributes = field(default_factory=dict)
    events: tuple[LibraryEvent, ...] = ()


def marked(value: AttributeValue, marker: str) -> AttributeValue:
    """A content template as sent: the marker before each text."""
    if isinstance(value, str):
        return f"{marker} {value}"
    assert isinstance(value, Sequence), value
    return [f"{marker} {item}" for item in value]


SPANS: tuple[LibrarySpan, ...] = (
    LibrarySpan("OpenTelemetry GenAI", "chat gpt-4o", kept={
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30,
        "gen_ai.response.finish_reasons": ["stop"], "gen_ai.prompt.name": "refund-triage",
    }, content={
        "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"Where is my refund?"}]}]',
        "gen_ai.output.messages": '[{"role":"assistant","parts":[{"type":"text","content":"It left today."}]}]',
        "gen_ai.system_instructions": '[{"type":"text","content":"You are a refund agent."}]',
    }, events=(
        LibraryEvent("gen_ai.client.inference.operation.details", content={
            "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"Where is my refund?"}]}]',
        }, content_event=True),
        LibraryEvent("gen_ai.evaluation.result", kept={
            "gen_ai.evaluation.name": "Relevance", "gen_ai.evaluation.score.value": 4.0,
        }, content={"gen_ai.evaluation.explanation": "The answer names the refund date."}),
    )),
    LibrarySpan("OpenTelemetry GenAI", "execute_tool lookup_refund", kept={
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_refund",
        "gen_ai.tool.call.id": "call_1", "gen_ai.tool.type": "function",
    }, content={
        "gen_ai.tool.call.arguments": '{"order":"A-17"}', "gen_ai.tool.call.result": '{"status":"sent"}',
    }),
    LibrarySpan("OpenTelemetry GenAI", "retrieval policies", kept={
        "gen_ai.operation.name": "retrieval", "gen_ai.data_source.id": "policies",
    }, content={
        "gen_ai.retrieval.query.text": "refund policy", "gen_ai.retrieval.documents": '[{"id":"d1","content":"..."}]',
    }),
    LibrarySpan("OpenTelemetry GenAI", "search_memory preferences", kept={
        "gen_ai.operation.name": "search_memory", "gen_ai.memory.store.id": "prefs",
    }, content={
        "gen_ai.memory.query.text": "dietary preferences", "gen_ai.memory.records": '[{"content":"vegetarian"}]',
    }),
    LibrarySpan("OpenTelemetry GenAI, deprecated", "chat gpt-4o-mini", kept={
        "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.prompt_tokens": 12,
    }, content={
        "gen_ai.prompt": '[{"role":"user","content":"Hello"}]', "gen_ai.completion": '[{"content":"Hi"}]',
    }, events=(
        LibraryEvent("gen_ai.content.prompt", content={"gen_ai.prompt": "Hello"}, content_event=True),
        LibraryEvent("gen_ai.content.completion", content={"gen_ai.completion": "Hi"}, content_event=True),
        LibraryEvent("gen_ai.system.message", kept={"gen_ai.system": "openai"},
                     content={"content": "Be brief."}, content_event=True),
        LibraryEvent("gen_ai.user.message", content={"content": "Hello"}, content_event=True),
        LibraryEvent("gen_ai.assistant.message", content={"content": "Hi"}, content_event=True),
        LibraryEvent("gen_ai.tool.message", content={"content": '{"status":"sent"}'}, content_event=True),
        LibraryEvent("gen_ai.choice", kept={"index": 0, "finish_reason": "stop"},
                     content={"message": '{"content":"Hi"}'}, content_event=True),
    )),
    LibrarySpan("OpenInference", "ChatOpenAI", kept={
        "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "llm.provider": "openai",
        "llm.token_count.prompt": 40, "llm.token_count.completion": 8, "input.mime_type": "application/json",
        "llm.prompt_template.version": "v3", "llm.tools.0.tool.json_schema": '{"type":"function"}',
        "llm.invocation_parameters": '{"temperature":0}',
    }, content={
        "input.value": '{"messages":[{"role":"user","content":"Hello"}]}', "output.value": "Hi there",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "Hello",
        "llm.input_messages.1.message.contents.0.message_content.text": "Look at this",
        "llm.input_messages.1.message.contents.1.message_content.image.image.url": "data:image/png;base64,iVBO",
        "llm.output_messages.0.message.content": "Hi there",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"order":"A-17"}',
        "llm.prompt_template.template": "Answer {question}", "llm.prompt_template.variables": '{"question":"Hello"}',
        "llm.function_call": '{"name":"lookup","arguments":"{}"}',
    }),
    LibrarySpan("OpenInference", "OpenAI.Completion", kept={
        "openinference.span.kind": "LLM", "llm.model_name": "gpt-3.5-turbo-instruct",
    }, content={
        "llm.prompts": ["Say hello"], "llm.prompts.0.prompt.text": "Say hello",
        "llm.choices.0.completion.text": "Hello",
    }),
    LibrarySpan("OpenInference", "VectorStoreRetriever", kept={"openinference.span.kind": "RETRIEVER"}, content={
        "input.value": "refund policy", "retrieval.documents.0.document.content": "Refunds take 5 days.",
        "retrieval.documents.0.document.id": "d1",
    }),
    LibrarySpan("OpenInference", "CohereRerank", kept={
        "openinference.span.kind": "RERANKER", "reranker.model_name": "rerank-english-v3.0", "reranker.top_k": 2,
    }, content={
        "reranker.query": "refund policy", "reranker.input_documents.0.document.content": "Refunds take 5 days.",
        "reranker.output_documents.0.document.content": "Refunds take 5 days.",
    }),
    LibrarySpan("OpenInference", "OpenAIEmbeddings", kept={
        "openinference.span.kind": "EMBEDDING", "embedding.model_name": "text-embedding-3-small",
    }, content={"embedding.embeddings.0.embedding.text": "refund policy"}),
    LibrarySpan("OpenInference", "lookup_refund", kept={
        "openinference.span.kind": "TOOL", "tool.name": "lookup_refund",
        "tool.description": "Finds a refund", "tool.parameters": '{"type":"object"}',
    }, content={"input.value": '{"order":"A-17"}', "output.value": '{"status":"sent"}'}),
    LibrarySpan("OpenLLMetry", "openai.chat", kept={
        "llm.request.type": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.prompt_tokens": 20, "gen_ai.usage.completion_tokens": 4, "llm.is_streaming": False,
        "llm.request.functions.0.name": "lookup_refund",
    }, content={
        "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "Where is my refund?",
        "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "It left today.",
        "gen_ai.completion.0.tool_calls.0.arguments": '{"order":"A-17"}',
    }),
    LibrarySpan("OpenLLMetry", "anthropic.completion", kept={
        "llm.request.type": "completion", "llm.vendor": "Anthropic", "llm.request.model": "claude-2",
    }, content={"llm.prompts.0.content": "Human: Hello", "llm.completions.0.content": "Hi"}),
    LibrarySpan("OpenLLMetry", "refund_workflow.workflow", kept={
        "traceloop.span.kind": "workflow", "traceloop.workflow.name": "refund_workflow",
        "traceloop.entity.name": "refund_workflow", "traceloop.prompt.key": "refund", "traceloop.prompt.version": 3,
    }, content={
        "traceloop.entity.input": '{"args":["Where is my refund?"]}', "traceloop.entity.output": '"It left today."',
        "traceloop.prompt.template": "Answer {{question}}", "traceloop.prompt.template_variables": '{"question":"?"}',
    }),
    LibrarySpan("OpenLLMetry", "tools/call lookup_refund", kept={"mcp.method.name": "tools/call"}, content={
        "mcp.request.argument": '{"order":"A-17"}', "mcp.response.value": '{"status":"sent"}',
    }),
    LibrarySpan("OpenLLMetry", "chroma.query", kept={"db.system": "chroma", "db.operation": "query"}, events=(
        LibraryEvent("db.query.result", kept={"db.query.result.id": "d1", "db.query.result.distance": 0.2},
                     content={"db.query.result.document": "Refunds take 5 days."}),
    )),
    LibrarySpan("Vercel AI SDK", "ai.generateText", kept={
        "ai.operationId": "ai.generateText", "ai.model.id": "gpt-4o", "ai.model.provider": "openai.chat",
        "ai.response.finishReason": "stop", "ai.usage.promptTokens": 20, "ai.usage.completionTokens": 4,
    }, content={
        "ai.prompt": '{"prompt":"Where is my refund?"}', "ai.response.text": "It left today.",
        "ai.response.toolCalls": '[{"toolName":"lookup_refund","args":"{}"}]',
        "ai.response.reasoning": "The order shipped.",
    }),
    LibrarySpan("Vercel AI SDK", "ai.streamText.doStream", kept={
        "ai.operationId": "ai.streamText.doStream", "gen_ai.system": "openai.chat",
        "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 20, "gen_ai.usage.output_tokens": 4,
        "ai.response.msToFirstChunk": 120.5,
    }, content={
        "ai.prompt.format": "messages", "ai.prompt.messages": '[{"role":"user","content":"Hello"}]',
        "ai.prompt.tools": ['{"type":"function","name":"lookup_refund"}'], "ai.prompt.toolChoice": '{"type":"auto"}',
        "ai.response.text": "Hi",
    }, events=(
        LibraryEvent("ai.stream.firstChunk", kept={"ai.response.msToFirstChunk": 120.5}),
    )),
    LibrarySpan("Vercel AI SDK", "ai.generateObject", kept={"ai.operationId": "ai.generateObject",
                                                              "ai.schema.name": "Refund"}, content={
        "ai.prompt": '{"prompt":"Extract"}', "ai.response.object": '{"order":"A-17"}',
    }),
    LibrarySpan("Vercel AI SDK", "ai.toolCall", kept={
        "ai.operationId": "ai.toolCall", "ai.toolCall.name": "lookup_refund", "ai.toolCall.id": "call_1",
    }, content={"ai.toolCall.args": '{"order":"A-17"}', "ai.toolCall.result": '{"status":"sent"}'}),
    LibrarySpan("Vercel AI SDK", "ai.embed", kept={"ai.operationId": "ai.embed", "ai.usage.tokens": 3}, content={
        "ai.value": '"refund policy"', "ai.embedding": "[0.1,0.2]",
    }),
    LibrarySpan("Vercel AI SDK", "ai.embedMany.doEmbed", kept={"ai.operationId": "ai.embedMany.doEmbed"}, content={
        "ai.values": ['"refund policy"'], "ai.embeddings": ["[0.1,0.2]"],
    }),
    LibrarySpan("Vercel AI SDK", "ai.rerank", kept={"ai.operationId": "ai.rerank"}, content={
        "ai.documents": ['"Refunds take 5 days."'], "ai.ranking": '[{"index":0,"score":0.9}]',
    }),
    LibrarySpan("Vercel AI SDK", "ai.generateText.doGenerate (AI SDK 3)", kept={
        "ai.operationId": "ai.generateText.doGenerate", "ai.finishReason": "stop",
    }, content={"ai.result.text": "Hi", "ai.result.toolCalls": "[]"}),
    LibrarySpan("MLflow", "ChatModel.invoke", kept={
        "mlflow.spanType": '"CHAT_MODEL"', "mlflow.spanFunctionName": '"invoke"',
        "mlflow.chat.tools": '[{"type":"function"}]', "mlflow.traceRequestId": '"tr-1"',
    }, content={
        "mlflow.spanInputs": '{"messages":[{"role":"user","content":"Hello"}]}', "mlflow.spanOutputs": '"Hi"',
        "mlflow.chat.messages": '[{"role":"user","content":"Hello"}]',
        "mlflow.traceInputs": '"Hello"', "mlflow.traceOutputs": '"Hi"',
    }),
    LibrarySpan("Sentry AI monitoring", "chat gpt-4.1", kept={
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4.1",
        "gen_ai.request.messages.original_length": 1, "gen_ai.request.available_tools": '[{"name":"lookup"}]',
    }, content={
        "gen_ai.request.messages": '[{"role":"user","content":"Hello"}]', "gen_ai.response.text": '["Hi"]',
        "gen_ai.response.tool_calls": '[{"name":"lookup"}]',
    }),
    LibrarySpan("Sentry AI monitoring", "execute_tool lookup", kept={
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup",
    }, content={"gen_ai.tool.input": '{"order":"A-17"}', "gen_ai.tool.output": '{"status":"sent"}'}),
    LibrarySpan("Langfuse", "langfuse generation", kept={
        "langfuse.observation.type": "generation", "langfuse.observation.model.name": "gpt-4.1",
        "langfuse.observation.usage_details": '{"input":12,"output":3}', "langfuse.trace.name": "refund",
    }, content={
        "langfuse.observation.input": '[{"role":"user","content":"Hello"}]', "langfuse.observation.output": '"Hi"',
        "langfuse.trace.input": '"Hello"', "langfuse.trace.output": '"Hi"',
    }),
    LibrarySpan("Pydantic Logfire", "Chat Completion with {request_data[model]!r}", kept={
        "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4.1", "logfire.span_type": "span",
    }, content={
        "request_data": '{"model":"gpt-4.1","messages":[{"role":"user","content":"Hello"}]}',
        "response_data": '{"message":{"role":"assistant","content":"Hi"}}',
    }),
    LibrarySpan("Pydantic AI", "agent run", kept={"agent_name": "refunds", "gen_ai.usage.input_tokens": 51}, content={
        "pydantic_ai.all_messages": '[{"role":"user","parts":[{"type":"text","content":"Hello"}]}]',
        "all_messages_events": '[{"event.name":"gen_ai.user.message","content":"Hello"}]',
        "final_result": "Hi",
    }),
    LibrarySpan("Pydantic AI", "chat gpt-4.1 (instrumentation version 1)", kept={
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4.1",
    }, content={"events": '[{"event.name":"gen_ai.user.message","content":"Hello"}]'}),
    LibrarySpan("Pydantic AI", "running tool: lookup", kept={"gen_ai.tool.name": "lookup"},
                content={"tool_arguments": '{"order":"A-17"}', "tool_response": '{"status":"sent"}'}),
    LibrarySpan("hand-written spans", "llm_call", kept={"llm.model": "my-model", "llm.latency_ms": 840}, events=(
        LibraryEvent("prompt", kept={"messaging.index": 0}, content={"messaging.content": "Hello"},
                     content_event=True),
        LibraryEvent("completion", kept={"messaging.index": 0}, content={"messaging.content": "Hi"},
                     content_event=True),
        LibraryEvent("llm.prompt", content={"llm.prompt": "Hello"}, content_event=True),
        LibraryEvent("llm.completion", content={"llm.completion": "Hi"}, content_event=True),
        LibraryEvent("llm.response", content={"response": "Hi"}, content_event=True),
        LibraryEvent("retry", kept={"attempt": 2}),
    )),
)


def content_names() -> Iterator[tuple[LibrarySpan, str, str | None]]:
    """Every content name of SPANS: (span, attribute key, None), (span, key, event) or (span, None, event)."""
    for span in SPANS:
        for key in span.content:
            yield span, key, None
        for event in span.events:
            if event.content_event:
                yield span, None, event.name
            else:
                for key in event.content:
                    yield span, key, event.name


def emit(provider: TracerProvider, marker: str) -> None:
    """Every span of SPANS, content marked, in one trace: as the libraries would send them."""
    tracer = provider.get_tracer("agentslo-tests.instrumented-spans")
    with tracer.start_as_current_span("invoke_agent refunds", kind=SpanKind.INTERNAL,
                                      attributes={"gen_ai.operation.name": "invoke_agent"}):
        for span in SPANS:
            attributes = {**span.kept, **{key: marked(value, marker) for key, value in span.content.items()}}
            with tracer.start_as_current_span(span.name, kind=SpanKind.CLIENT, attributes=attributes) as sent:
                for event in span.events:
                    sent.add_event(event.name, {
                        **event.kept, **{key: marked(value, marker) for key, value in event.content.items()}})
