"""A small client for OpenAI-compatible chat completions: the demo's fake endpoint, OpenAI, or a gateway.

It reads usage as OpenAI and the gateways in front of other providers report it
(LiteLLM, OpenRouter): `prompt_tokens` counts the whole prompt, cache reads
included (`prompt_tokens_details.cached_tokens`) and cache writes included
(`cache_creation_input_tokens`, where the provider bills them). Failures come
back as one exception, `EndpointError`, whose `error_type` is what a span's
`error.type` should say: the HTTP status ("429", "503") or "timeout".

    client = ChatClient("http://127.0.0.1:8800/v1", timeout_s=30)
    completion = client.complete(model="gpt-4.1-mini", messages=[{"role": "user", "content": "hi"}],
                                 max_tokens=200)
    completion.usage.input_tokens, completion.processing_s
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

__all__ = ["ChatClient", "Completion", "EndpointError", "Usage"]

# Statuses worth another try: rate limited, timed out upstream, or a server fault.
_RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


@dataclass(frozen=True)
class Usage:
    """Tokens of one call as the OpenTelemetry GenAI conventions count them: input includes cache reads
    and cache writes."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int


@dataclass(frozen=True)
class Completion:
    """One chat completion: its id, the model that answered (often a dated snapshot), text, usage.

    `processing_s` is the time the server says it spent (OpenAI's `openai-processing-ms`
    header), None when it says nothing.
    """

    id: str
    model: str
    text: str
    finish_reason: str
    usage: Usage
    processing_s: float | None


class EndpointError(Exception):
    """A call that got no completion: `error_type` names how ("429", "503", "timeout", "connection").

    `retry_after_s` is what the server asked to wait (Retry-After), `processing_s`
    how long the call took by the server's account or, for a timeout, the client's.
    """

    def __init__(self, message: str, *, error_type: str, retryable: bool, retry_after_s: float | None = None,
                 processing_s: float | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.processing_s = processing_s


class ChatClient:
    """POSTs to `{base_url}/chat/completions`; `timeout_s` bounds each call (connect, and each read)."""

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout_s: float = 60) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self.server_address = parts.hostname or ""
        self.server_port = parts.port or (443 if parts.scheme == "https" else 80)
        self.timeout_s = timeout_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(timeout=timeout_s, headers=headers)

    def complete(self, *, model: str, messages: Sequence[Mapping[str, str]], max_tokens: int) -> Completion:
        """One chat completion, or EndpointError."""
        started = time.monotonic()
        try:
            response = self._http.post(f"{self.base_url}/chat/completions",
                                       json={"model": model, "messages": list(messages), "max_tokens": max_tokens})
        except httpx.TimeoutException:
            raise EndpointError(f"{model}: no answer within {self.timeout_s:g} s", error_type="timeout",
                                retryable=True, processing_s=time.monotonic() - started) from None
        except httpx.TransportError as exc:
            raise EndpointError(f"{model}: {exc}", error_type="connection", retryable=True,
                                processing_s=time.monotonic() - started) from None
        processing_s = _processing_s(response.headers)
        if response.status_code != 200:
            raise EndpointError(f"{model}: HTTP {response.status_code}: {_error_message(response)}",
                                error_type=str(response.status_code),
                                retryable=response.status_code in _RETRYABLE_STATUSES,
                                retry_after_s=_retry_after_s(response.headers), processing_s=processing_s)
        body = response.json()
        usage = body.get("usage") or {}
        details = usage.get("prompt_tokens_details") or {}
        choice = body["choices"][0]
        return Completion(
            id=body.get("id", ""),
            model=body.get("model", model),
            text=(choice.get("message") or {}).get("content") or "",
            finish_reason=choice.get("finish_reason") or "",
            usage=Usage(input_tokens=usage.get("prompt_tokens", 0), output_tokens=usage.get("completion_tokens", 0),
                        cache_read_tokens=details.get("cached_tokens") or 0,
                        cache_write_tokens=usage.get("cache_creation_input_tokens") or 0),
            processing_s=processing_s,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()


def _processing_s(headers: httpx.Headers) -> float | None:
    value = headers.get("openai-processing-ms")
    try:
        return None if value is None else float(value) / 1000
    except ValueError:
        return None


def _retry_after_s(headers: httpx.Headers) -> float | None:
    # OpenAI sends retry-after-ms beside the standard Retry-After (seconds).
    for name, scale in (("retry-after-ms", 1000), ("retry-after", 1)):
        try:
            return float(headers[name]) / scale
        except (KeyError, ValueError):
            continue
    return None


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
