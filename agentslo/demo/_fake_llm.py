"""A fake LLM provider on loopback: OpenAI-compatible chat completions that bill what they serve, and fail on demand.

A real HTTP server (stdlib, in a thread) answering `POST /v1/chat/completions`
for the models of `PRICE_LIST`, as a gateway in front of several providers
does (LiteLLM, OpenRouter): usage in OpenAI's shape, with cache reads in
`prompt_tokens_details.cached_tokens` and, for providers that bill them, cache
writes in `cache_creation_input_tokens`. Each provider caches a prompt's
system message the way it does for real: OpenAI and Gemini implicitly, from
1,024 tokens on (OpenAI in steps of 128), Anthropic explicitly, billing the
first sight as a cache write. Cached prefixes never expire here.

It bills every completion it answers at the list price, in exact decimals, per
model (`billed_usd`): the invoice AgentSLO's figures are compared with. Failed
requests are not billed. `set_faults` makes a share of a provider's requests
fail: 429 with Retry-After, 5xx (529 for Anthropic), or no answer at all (the
client's timeout).

The time a call takes is simulated: the server answers at once and says how
long the call took in `openai-processing-ms`, as OpenAI does.
"""

from __future__ import annotations

import json
import random
import socket
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["PRICE_LIST", "FakeLlm", "Faults", "ListPrice", "count_tokens"]

_MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class ListPrice:
    """A model's published list price in USD per million tokens, and how its provider serves it.

    `snapshot` is the dated name a completion reports as its model; `output_ms_per_token`
    and `first_token_ms` make its simulated latency.
    """

    model: str
    provider: str
    snapshot: str
    input_usd_per_mtok: Decimal
    cache_read_usd_per_mtok: Decimal
    cache_write_usd_per_mtok: Decimal
    output_usd_per_mtok: Decimal
    first_token_ms: int
    output_ms_per_token: int

    def cost_usd(self, *, input_tokens: int, output_tokens: int, cache_read_tokens: int,
                 cache_write_tokens: int) -> Decimal:
        """What one call costs: uncached input, cache reads, cache writes and output, each at its price."""
        uncached = input_tokens - cache_read_tokens - cache_write_tokens
        return (uncached * self.input_usd_per_mtok + cache_read_tokens * self.cache_read_usd_per_mtok
                + cache_write_tokens * self.cache_write_usd_per_mtok
                + output_tokens * self.output_usd_per_mtok) / _MILLION


def _price(model: str, provider: str, snapshot: str, prices: str, first_token_ms: int,
           output_ms_per_token: int) -> ListPrice:
    input_usd, cache_read_usd, cache_write_usd, output_usd = (Decimal(p) for p in prices.split())
    return ListPrice(model, provider, snapshot, input_usd, cache_read_usd, cache_write_usd, output_usd,
                     first_token_ms, output_ms_per_token)


# The providers' published list prices (input, cache read, cache write, output per million tokens),
# the same entries as AgentSLO's shipped table (collector/prices.yaml; tests/demo/test_fake_llm.py
# checks that they agree). OpenAI and Google bill no cache writes: a cache write costs plain input.
PRICE_LIST: tuple[ListPrice, ...] = (
    _price("gpt-4.1", "openai", "gpt-4.1-2025-04-14", "2.00 0.50 2.00 8.00", 450, 14),
    _price("gpt-4.1-mini", "openai", "gpt-4.1-mini-2025-04-14", "0.40 0.10 0.40 1.60", 300, 8),
    _price("claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5-20250929", "3.00 0.30 3.75 15.00", 700, 16),
    _price("claude-haiku-4-5", "anthropic", "claude-haiku-4-5-20251001", "1.00 0.10 1.25 5.00", 400, 7),
    _price("gemini-2.5-flash", "gcp.gemini", "gemini-2.5-flash", "0.30 0.03 0.30 2.50", 350, 5),
)
_BY_NAME = {name: price for price in PRICE_LIST for name in (price.model, price.snapshot)}

# Prompt caching by provider: the shortest prompt prefix cached, the step cached lengths go by,
# and whether the first sight of a prefix is billed as a cache write (Anthropic's explicit caching).
_MIN_CACHED_TOKENS = 1024
_CACHE_STEP = {"openai": 128, "anthropic": 1, "gcp.gemini": 1}
_BILLS_CACHE_WRITES = frozenset({"anthropic"})
# What each provider answers when it is overloaded.
_OVERLOADED = {"openai": (503, 503, 500), "anthropic": (529,), "gcp.gemini": (503,)}


@dataclass(frozen=True)
class Faults:
    """Shares of a provider's requests that fail, by how; the rest are answered."""

    rate_limited: float = 0.0   # 429 with Retry-After
    server_error: float = 0.0   # 5xx: 503 / 500, 529 for Anthropic
    timeout: float = 0.0        # no answer: the client gives up

    def __post_init__(self) -> None:
        if min(self.rate_limited, self.server_error, self.timeout) < 0 or self.total > 1:
            raise ValueError(f"fault shares must be >= 0 and add up to at most 1: {self}")

    @property
    def total(self) -> float:
        """The share of requests that fail."""
        return self.rate_limited + self.server_error + self.timeout


def count_tokens(text: str) -> int:
    """Tokens in a text as the fake counts them: about four characters each, as for English."""
    return (len(text) + 3) // 4


def _prompt_tokens(messages: list[dict[str, Any]]) -> tuple[int, str, int]:
    """(tokens of the whole prompt, its cacheable prefix (a leading system message) and that prefix's tokens)."""
    texts = [str(m.get("content") or "") for m in messages]
    sizes = [count_tokens(text) + 4 for text in texts]  # 4: a message's framing
    if messages[0].get("role") != "system":
        return sum(sizes) + 3, "", 0
    return sum(sizes) + 3, texts[0], sizes[0]


class FakeLlm:
    """The fake provider: `start()` it, point a client at `url`, read `billed_usd()` at the end.

    `seed` fixes the output lengths and which requests fail; a request that times out is
    held for `stall_s` (or until `stop()`), then its connection is closed unanswered.
    """

    def __init__(self, *, seed: int = 0, stall_s: float = 5.0) -> None:
        self._rng = random.Random(seed)
        self._stall_s = stall_s
        self._lock = threading.Lock()
        self._faults: dict[str, Faults] = {}
        self._cached: set[tuple[str, str]] = set()
        self._billed: dict[str, Decimal] = {}
        self._outcomes: Counter[tuple[str, str]] = Counter()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The base URL a client takes, e.g. http://127.0.0.1:40123/v1 (OPENAI_BASE_URL's form)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeLlm:
        """Listen on a free loopback port, in a thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True,
                                        name="fake-llm")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests held for a timeout are let go."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def set_faults(self, faults: Mapping[str, Faults]) -> None:
        """From now on, fail these shares of each provider's requests (providers not named: none)."""
        with self._lock:
            self._faults = dict(faults)

    def billed_usd(self) -> dict[str, Decimal]:
        """USD billed so far per model (its list name, e.g. gpt-4.1-mini)."""
        with self._lock:
            return dict(self._billed)

    def outcomes(self) -> Counter[tuple[str, str]]:
        """Requests so far by (model, outcome): "200", "429", "503", "timeout", ..."""
        with self._lock:
            return Counter(self._outcomes)

    def _answer(self, request: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        """(status, headers, body) for one request; body None: hold it, then close unanswered."""
        name = str(request.get("model", ""))
        price = _BY_NAME.get(name)
        if price is None:
            return 404, {}, _error(f"The model `{name}` does not exist", "invalid_request_error",
                                   "model_not_found")
        messages = request.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            return 400, {}, _error("messages must be a non-empty list of messages", "invalid_request_error")
        max_tokens = request.get("max_tokens") or request.get("max_completion_tokens") or 1024
        with self._lock:
            faults = self._faults.get(price.provider, Faults())
            draw = self._rng.random()
            if draw < faults.timeout:
                self._outcomes[price.model, "timeout"] += 1
                return 0, {}, None
            if draw < faults.timeout + faults.rate_limited:
                self._outcomes[price.model, "429"] += 1
                return 429, {"retry-after": "2", "openai-processing-ms": "12"}, _error(
                    f"Rate limit reached for {price.model}: please try again in 2s.", "requests",
                    "rate_limit_exceeded")
            if draw < faults.total:
                status = self._rng.choice(_OVERLOADED[price.provider])
                self._outcomes[price.model, str(status)] += 1
                return status, {"openai-processing-ms": str(self._rng.randint(40, 900))}, _error(
                    f"{price.provider} is temporarily unavailable", "overloaded_error" if status == 529
                    else "server_error")
            input_tokens, prefix, prefix_tokens = _prompt_tokens(messages)
            read, write = self._cache(price, prefix, prefix_tokens)
            output_tokens = self._rng.randint(max(1, max_tokens // 4), max_tokens)
            cost = price.cost_usd(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=read,
                                  cache_write_tokens=write)
            self._billed[price.model] = self._billed.get(price.model, Decimal(0)) + cost
            self._outcomes[price.model, "200"] += 1
            request_id = f"chatcmpl-{self._rng.getrandbits(64):016x}"
            processing_ms = (price.first_token_ms + self._rng.randint(0, price.first_token_ms)
                             + output_tokens * price.output_ms_per_token)
        usage: dict[str, Any] = {
            "prompt_tokens": input_tokens, "completion_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens, "prompt_tokens_details": {"cached_tokens": read},
        }
        if price.provider in _BILLS_CACHE_WRITES:
            usage["cache_creation_input_tokens"] = write
        return 200, {"openai-processing-ms": str(processing_ms), "x-request-id": request_id}, {
            "id": request_id, "object": "chat.completion", "created": 0, "model": price.snapshot,
            "choices": [{"index": 0, "finish_reason": "length" if output_tokens == max_tokens else "stop",
                         "message": {"role": "assistant", "content": f"(a simulated answer of {output_tokens} "
                                                                     "tokens)"}}],
            "usage": usage,
        }

    def _cache(self, price: ListPrice, prefix: str, prefix_tokens: int) -> tuple[int, int]:
        """(cache-read tokens, cache-write tokens) of a prompt whose cacheable prefix is `prefix`."""
        if prefix_tokens < _MIN_CACHED_TOKENS:
            return 0, 0
        step = _CACHE_STEP[price.provider]
        cacheable = prefix_tokens - (prefix_tokens - _MIN_CACHED_TOKENS) % step
        key = (price.model, prefix)
        if key in self._cached:
            return cacheable, 0
        self._cached.add(key)
        return 0, (cacheable if price.provider in _BILLS_CACHE_WRITES else 0)

    def _hold(self) -> None:
        self._stopping.wait(self._stall_s)


def _error(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _handler(fake: FakeLlm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as API clients expect
        # Headers and body go out in two writes: with Nagle's algorithm the body would wait for
        # the client's delayed ACK of the headers, 40 ms a call.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, {}, _error(f"no route {self.path}", "invalid_request_error"))
                return
            try:
                request = json.loads(body)
            except ValueError:
                self._send(400, {}, _error("the body is not JSON", "invalid_request_error"))
                return
            if not isinstance(request, dict):
                self._send(400, {}, _error("the body must be a JSON object", "invalid_request_error"))
                return
            status, headers, answer = fake._answer(request)
            if answer is None:
                fake._hold()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # the client has gone already
                return
            self._send(status, headers, answer)

        def _send(self, status: int, headers: Mapping[str, str], answer: dict[str, Any]) -> None:
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return Handler
