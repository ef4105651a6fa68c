#!/usr/bin/env python3
"""A small support agent instrumented with the OpenTelemetry SDK alone, the way AgentSLO reads agents.

It answers one question: looks the order up if the question names one (a tool
call), then asks a model, retrying what may succeed later with full-jitter
backoff and falling back to the next model, then to a graceful error. Its spans:

    invoke_agent support-agent      the task: agent, task type, feature, tenant, user,
    |                                agentslo.fallback.source, agentslo.degraded
    +- execute_tool lookup_order     a tool call
    +- chat gpt-4.1-mini             one span per attempt, with the GenAI usage attributes
    +- chat gpt-4.1 ...

Needs only the SDK and its OTLP/HTTP exporter (and no AgentSLO code):

    pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http

Run it against any OpenAI-compatible endpoint (OpenAI, a LiteLLM or vLLM server, the
fake endpoint `agentslo demo` prints) and any OTLP receiver (AgentSLO on port 4318):

    export OPENAI_BASE_URL=https://api.openai.com/v1 OPENAI_API_KEY=sk-...
    export OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 OTEL_SERVICE_NAME=support-desk
    python examples/support_agent.py --tenant acme --user u-42 "Where is my order 1234?"

Settings, from the environment: OPENAI_BASE_URL (default https://api.openai.com/v1),
OPENAI_API_KEY, SUPPORT_AGENT_MODELS (the models to try in order, default
"gpt-4.1-mini,gpt-4.1"), SUPPORT_AGENT_TIMEOUT_S (per call, default 30), and the
SDK's own OTEL_* variables (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

AGENT = "support-agent"
BASE_URL = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")
MODELS = [m.strip() for m in os.environ.get("SUPPORT_AGENT_MODELS", "gpt-4.1-mini,gpt-4.1").split(",") if m.strip()]
TIMEOUT_S = float(os.environ.get("SUPPORT_AGENT_TIMEOUT_S", "30"))
ATTEMPTS = 3
RETRYABLE = {408, 409, 429, 500, 502, 503, 504, 529}
# gen_ai.provider.name of each model, by its name: one endpoint (a gateway) may serve several providers.
PROVIDERS = {"gpt-": "openai", "o1": "openai", "o3": "openai", "o4": "openai", "claude-": "anthropic",
             "gemini-": "gcp.gemini", "mistral-": "mistral_ai", "deepseek-": "deepseek"}
SYSTEM_PROMPT = ("You are the support agent of an online shop. Answer in two sentences, from the order "
                 "record when there is one; never invent an order status.")

os.environ.setdefault("OTEL_SERVICE_NAME", "support-agent")   # the SDK reads it, and OTEL_RESOURCE_ATTRIBUTES
provider = TracerProvider(resource=Resource.create())
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))   # OTEL_EXPORTER_OTLP_* say where
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("support-agent-example")


class ModelError(Exception):
    """A call that got no answer; `error_type` is the span's error.type: the HTTP status, or "timeout"."""

    def __init__(self, message: str, error_type: str, retryable: bool, retry_after_s: float = 0.0) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.retryable = retryable
        self.retry_after_s = retry_after_s


def answer(question: str, *, user: str, tenant: str, task_type: str, feature: str) -> str:
    """The task: one invoke_agent span around a tool call and the model calls."""
    with tracer.start_as_current_span(f"invoke_agent {AGENT}", attributes={
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": AGENT,
        "agentslo.task.type": task_type,
        "agentslo.feature": feature,
        "agentslo.tenant": tenant,
        "user.id": user,
    }) as task:
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": question}]
        order = re.search(r"order #?(\d+)", question, flags=re.I)
        if order:
            messages.append({"role": "user", "content": "Order record: " + lookup_order(order.group(1))})
        for position, model in enumerate(MODELS):
            source = "primary" if position == 0 else "secondary"
            try:
                text = complete_with_retries(model, messages, source, task)
            except ModelError as exc:
                # The next model, if any: the fallback chain.
                task.add_event("fallback", {"gen_ai.request.model": model, "error.type": exc.error_type})
                continue
            task.set_attribute("agentslo.fallback.source", source)
            task.set_attribute("agentslo.degraded", source != "primary")
            return text
        # The graceful error: the user gets an apology, and the task has failed.
        task.set_attributes({"agentslo.fallback.source": "error", "agentslo.degraded": True,
                             "error.type": "fallback_exhausted"})
        task.set_status(Status(StatusCode.ERROR, "no model answered"))
        return "Sorry, we cannot answer right now; please try again in a few minutes."


def lookup_order(order_id: str) -> str:
    """A tool call (a stand-in for the shop's order API)."""
    with tracer.start_as_current_span("execute_tool lookup_order", attributes={
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order", "gen_ai.tool.type": "function",
    }):
        return json.dumps({"order": order_id, "status": "shipped", "carrier": "DHL", "eta": "in 2 days"})


def complete_with_retries(model: str, messages: list[dict[str, str]], source: str, task: Span) -> str:
    """One model's answer; an attempt that may succeed later is retried after a full-jitter backoff
    (a random wait up to 0.5 s, 1 s, 2 s ...) or the server's Retry-After if longer."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return complete(model, messages, source, attempt)
        except ModelError as exc:
            if not exc.retryable or attempt == ATTEMPTS:
                raise
            delay_s = max(random.uniform(0, 0.5 * 2 ** (attempt - 1)), exc.retry_after_s)
            task.add_event("retry", {"gen_ai.request.model": model, "retry.attempt": attempt,
                                     "retry.delay_s": round(delay_s, 3), "error.type": exc.error_type})
            time.sleep(delay_s)
    raise AssertionError("unreachable")


def complete(model: str, messages: list[dict[str, str]], source: str, attempt: int) -> str:
    """One chat completion: one client span with the GenAI conventions' attributes."""
    url = urlsplit(BASE_URL)
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": next((p for prefix, p in PROVIDERS.items() if model.startswith(prefix)), "openai"),
        "gen_ai.request.model": model,
        "gen_ai.request.max_tokens": 300,
        "server.address": url.hostname or "",
        "server.port": url.port or (443 if url.scheme == "https" else 80),
        "agentslo.fallback.source": source,
    }
    if attempt > 1:
        attributes["http.request.resend_count"] = attempt - 1
    with tracer.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT, attributes=attributes,
                                      record_exception=False, set_status_on_exception=False) as span:
        try:
            body = post_chat(model, messages)
        except ModelError as exc:
            span.set_attribute("error.type", exc.error_type)
            span.set_status(Status(StatusCode.ERROR, str(exc)))
            raise
        usage = body.get("usage") or {}
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        choice = body["choices"][0]
        span.set_attributes({
            "gen_ai.response.model": body.get("model", model),
            "gen_ai.response.id": body.get("id", ""),
            "gen_ai.response.finish_reasons": [choice.get("finish_reason") or ""],
            # Input tokens count the whole prompt, cache reads and writes included, as OpenAI reports them.
            "gen_ai.usage.input_tokens": usage.get("prompt_tokens", 0),
            "gen_ai.usage.output_tokens": usage.get("completion_tokens", 0),
            "gen_ai.usage.cache_read.input_tokens": cached,
            "gen_ai.usage.cache_creation.input_tokens": usage.get("cache_creation_input_tokens") or 0,
        })
        return (choice.get("message") or {}).get("content") or ""


def post_chat(model: str, messages: list[dict[str, str]]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{BASE_URL}/chat/completions", method="POST",
        data=json.dumps({"model": model, "messages": messages, "max_tokens": 300}).encode(),
        headers={"Content-Type": "application/json",
                 **({"Authorization": f"Bearer {os.environ['OPENAI_API_KEY']}"}
                    if os.environ.get("OPENAI_API_KEY") else {})})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        raise ModelError(f"{model}: HTTP {exc.code}", str(exc.code), exc.code in RETRYABLE,
                         seconds(exc.headers.get("retry-after"))) from None
    except TimeoutError:
        raise ModelError(f"{model}: no answer in {TIMEOUT_S:g} s", "timeout", True) from None
    except urllib.error.URLError as exc:
        kind = "timeout" if isinstance(exc.reason, TimeoutError) else "connection"
        raise ModelError(f"{model}: {exc.reason}", kind, True) from None


def seconds(retry_after: str | None) -> float:
    """Retry-After in seconds; 0 when absent or an HTTP date (not worth parsing here)."""
    try:
        return float(retry_after or 0)
    except ValueError:
        return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description="Answer one support question, traced with OpenTelemetry.")
    parser.add_argument("question")
    parser.add_argument("--user", default="anonymous", help="user.id")
    parser.add_argument("--tenant", default="default", help="agentslo.tenant")
    parser.add_argument("--task-type", default="answer_question", help="agentslo.task.type")
    parser.add_argument("--feature", default="help-center", help="agentslo.feature")
    args = parser.parse_args()
    try:
        print(answer(args.question, user=args.user, tenant=args.tenant, task_type=args.task_type,
                     feature=args.feature))
    finally:
        provider.shutdown()   # exports what is buffered before the process ends
    return 0


if __name__ == "__main__":
    sys.exit(main())
