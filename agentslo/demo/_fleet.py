"""A fleet of simulated LLM agents, instrumented with the OpenTelemetry SDK and nothing of AgentSLO.

This module is agent code: it imports the OpenTelemetry SDK, tenacity and the
chat client, never AgentSLO (tests/demo/test_fleet.py checks), so what it
exports is what any agent could. Each agent runs tasks the way production agents
do and says so in its spans, with the attributes AgentSLO reads
(docs/instrumenting.md):

- a task is one `invoke_agent {agent}` span, the root of its trace, naming the
  agent, task type, feature, tenant and user; a graceful error fails it;
- a model call is one `chat {model}` client span per attempt, with the GenAI
  conventions' usage attributes (input tokens include cache reads and writes);
  a tool call is an `execute_tool {tool}` span;
- retries: an attempt that may succeed later (429, 5xx, a timeout) is tried
  again after a full-jitter exponential backoff, or the server's Retry-After if
  longer, up to `ATTEMPTS` attempts; each wait is a `retry` event;
- a circuit breaker per model: `BREAKER_FAILURES` failures in a row open it,
  calls are then refused at once; after `BREAKER_RESET` one probe is let
  through (half open), which closes it or opens it again. Each change is an
  event, `circuit_breaker.open` / `.half_open` / `.closed`;
- a fallback chain: the primary model, the secondary, the agent's cache of
  answers, then a graceful error; the task span says which one answered
  (`agentslo.fallback.source`) and whether the answer is `agentslo.degraded`,
  and each step down is a `fallback` event;
- caps per task on tokens and on cost (by the agent's own price sheet): a task
  that reaches one stops with the answer it has, degraded (`task.cap_reached`).

Time is simulated: each task runs on its own clock from its start, which moves
by what the endpoint says a call took (`openai-processing-ms`), by what a
timeout really took, and by the backoff waits, so a minute of traffic plays in
a moment. Spans carry those times explicitly.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, set_span_in_context
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from agentslo.demo._llm_client import ChatClient, Completion, EndpointError

__all__ = ["ATTEMPTS", "Agent", "AgentSpec", "BreakerState", "CircuitBreaker", "Fleet", "Model", "MinuteOutcome",
           "Source", "TaskOutcome"]

ATTEMPTS = 3                            # tries of one model before falling back
BACKOFF = wait_random_exponential(multiplier=0.5, max=8)   # full jitter: uniform(0, min(8, 0.5 * 2^n)) s
BREAKER_FAILURES = 3                    # failures in a row that open a breaker
BREAKER_RESET = timedelta(seconds=30)   # how long it stays open before a probe
_NS = 1_000_000_000
_COMMON_QUESTIONS = 20                  # the questions asked again and again


class Source(enum.IntEnum):
    """Who answered a task, from best to worst: the values of `agentslo.fallback.source`."""

    PRIMARY = 0
    SECONDARY = 1
    CACHE = 2
    ERROR = 3

    @property
    def label(self) -> str:
        """The attribute's value: primary, secondary, cache or error."""
        return self.name.lower()


@dataclass(frozen=True)
class Model:
    """A model the agent may call, with the list prices it enforces its cost cap by (USD per million tokens)."""

    name: str
    provider: str
    input_usd_per_mtok: float
    cache_read_usd_per_mtok: float
    cache_write_usd_per_mtok: float
    output_usd_per_mtok: float

    def cost_usd(self, completion: Completion) -> float:
        """What a completion cost, by this list price: the agent's own estimate, for its cost cap."""
        usage = completion.usage
        uncached = usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens
        return (uncached * self.input_usd_per_mtok + usage.cache_read_tokens * self.cache_read_usd_per_mtok
                + usage.cache_write_tokens * self.cache_write_usd_per_mtok
                + usage.output_tokens * self.output_usd_per_mtok) / 1_000_000


@dataclass(frozen=True)
class AgentSpec:
    """One agent: who it is, what it runs, how much, and its limits.

    A task makes `steps` model calls (a tool call before each but the first).
    A share `repeat_share` of its questions are among the few asked often (the
    answer cache's best case), the others are new. `prompt_tokens` is the length
    of its system prompt, the prefix providers cache.
    """

    name: str
    service: str
    task_type: str
    feature: str
    primary: Model
    secondary: Model
    tasks_per_minute: int
    steps: tuple[int, int]
    tools: tuple[str, ...]
    repeat_share: float
    prompt_tokens: int
    max_output_tokens: int
    max_tokens_per_task: int
    max_cost_usd_per_task: float
    tenants: tuple[str, ...]
    users_per_tenant: int


class BreakerState(enum.Enum):
    """A circuit breaker's state, as its events name it."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    """One model's breaker. Pure: each method takes the time and returns the state it moved from, if it moved."""

    name: str
    failures_to_open: int = BREAKER_FAILURES
    reset_after: timedelta = BREAKER_RESET
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at_ns: int = 0

    def allow(self, now_ns: int) -> tuple[bool, BreakerState | None]:
        """Whether a call may go out now; an open breaker past its reset time lets one probe through."""
        if self.state is BreakerState.OPEN:
            if self.is_open(now_ns):
                return False, None
            self.state = BreakerState.HALF_OPEN
            return True, BreakerState.OPEN
        return True, None

    def is_open(self, now_ns: int) -> bool:
        """Whether calls would be refused at `now_ns`: open, and not yet due for a probe."""
        return (self.state is BreakerState.OPEN
                and now_ns < self.opened_at_ns + self.reset_after.total_seconds() * _NS)

    def succeeded(self) -> BreakerState | None:
        """A call succeeded: the failure count restarts, and a probe closes the breaker."""
        self.failures = 0
        if self.state is BreakerState.HALF_OPEN:
            self.state = BreakerState.CLOSED
            return BreakerState.HALF_OPEN
        return None

    def failed(self, now_ns: int) -> BreakerState | None:
        """A call failed: the last of `failures_to_open` in a row, or a failed probe, opens the breaker."""
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.failures_to_open:
            previous, self.state, self.opened_at_ns = self.state, BreakerState.OPEN, now_ns
            return None if previous is BreakerState.OPEN else previous
        return None


class TaskClock:
    """A task's own time, in Unix nanoseconds: it moves only when told what a step took."""

    def __init__(self, start: datetime) -> None:
        self._now_ns = int(start.timestamp() * _NS)

    def now_ns(self) -> int:
        """The task's time now, for span and event timestamps."""
        return self._now_ns

    def sleep(self, seconds: float) -> None:
        """A wait (tenacity's `sleep`): the task's time moves on, nobody waits."""
        self._now_ns += int(seconds * _NS)


@dataclass
class TaskOutcome:
    """What one task did, for the fleet's tallies."""

    source: Source = Source.PRIMARY
    degraded: bool = False
    capped: bool = False
    calls: int = 0
    failed_calls: int = 0
    retries: int = 0
    breakers_opened: int = 0


@dataclass
class MinuteOutcome:
    """One minute of the fleet: tasks and how they went, per service too."""

    tasks: int = 0
    failed: int = 0
    fallbacks: int = 0
    from_cache: int = 0
    degraded: int = 0
    capped: int = 0
    calls: int = 0
    failed_calls: int = 0
    retries: int = 0
    breakers_opened: int = 0
    breakers_open: int = 0

    def add(self, task: TaskOutcome) -> None:
        """Count one task in."""
        self.tasks += 1
        self.failed += task.source is Source.ERROR
        self.fallbacks += task.source is not Source.PRIMARY
        self.from_cache += task.source is Source.CACHE
        self.degraded += task.degraded
        self.capped += task.capped
        self.calls += task.calls
        self.failed_calls += task.failed_calls
        self.retries += task.retries
        self.breakers_opened += task.breakers_opened


class _BreakerOpen(Exception):
    """A call refused by its model's open breaker."""


@dataclass
class _Task:
    clock: TaskClock
    span: Span
    context: Context
    outcome: TaskOutcome
    tokens: int = 0
    cost_usd: float = 0.0

    def event(self, name: str, attributes: Mapping[str, str | int | float]) -> None:
        self.span.add_event(name, dict(attributes), timestamp=self.clock.now_ns())


class Agent:
    """Runs one agent's tasks: `run_task(start)` plays a whole task from `start` and exports its spans."""

    def __init__(self, spec: AgentSpec, tracer: Tracer, client: ChatClient, rng: random.Random) -> None:
        self.spec = spec
        self._tracer = tracer
        self._client = client
        self._rng = rng
        self.breakers = {model.name: CircuitBreaker(model.name) for model in (spec.primary, spec.secondary)}
        self._answers: set[int] = set()   # topics the agent has a stored answer for
        self._system_prompt = _filler(f"You are {spec.name}. ", spec.prompt_tokens)

    def run_task(self, start: datetime) -> TaskOutcome:
        """Play one task from `start` to its end, on its own clock; its spans are ended (and exported) by then."""
        spec, rng = self.spec, self._rng
        tenant = rng.choice(spec.tenants)
        clock = TaskClock(start)
        span = self._tracer.start_span(f"invoke_agent {spec.name}", kind=SpanKind.INTERNAL,
                                       start_time=clock.now_ns(), attributes={
                                           "gen_ai.operation.name": "invoke_agent",
                                           "gen_ai.agent.name": spec.name,
                                           "agentslo.task.type": spec.task_type,
                                           "agentslo.feature": spec.feature,
                                           "agentslo.tenant": tenant,
                                           "user.id": f"{tenant}-{rng.randint(1, spec.users_per_tenant):03d}",
                                       })
        task = _Task(clock, span, set_span_in_context(span), TaskOutcome())
        topic = rng.randrange(_COMMON_QUESTIONS) if rng.random() < spec.repeat_share else rng.getrandbits(64)
        messages = [{"role": "system", "content": self._system_prompt},
                    {"role": "user", "content": _filler(f"Question {topic}. ", rng.randint(40, 400))}]
        exhausted = False
        for step in range(rng.randint(*spec.steps)):
            if step:
                messages.append({"role": "tool", "content": self._use_tool(task, rng.choice(spec.tools))})
            source, completion = self._answer(task, messages)
            if completion is None:
                exhausted = True
                break
            task.outcome.source = max(task.outcome.source, source)
            messages.append({"role": "assistant", "content": _filler("", completion.usage.output_tokens)})
            if self._cap_reached(task):
                break
        if exhausted:
            task.outcome.source = Source.CACHE if topic in self._answers else Source.ERROR
            task.event("fallback", {"agentslo.fallback.source": task.outcome.source.label})
        elif not task.outcome.capped:
            self._answers.add(topic)
        outcome = task.outcome
        outcome.degraded = outcome.capped or outcome.source is not Source.PRIMARY
        span.set_attribute("agentslo.fallback.source", outcome.source.label)
        span.set_attribute("agentslo.degraded", outcome.degraded)
        if outcome.source is Source.ERROR:
            # The graceful error: the user is told to try later, and the task has failed.
            span.set_attribute("error.type", "fallback_exhausted")
            span.set_status(Status(StatusCode.ERROR, "no model answered and no cached answer"))
        span.end(end_time=clock.now_ns())
        return outcome

    def _answer(self, task: _Task, messages: list[dict[str, str]]) -> tuple[Source, Completion | None]:
        """The primary's completion, else the secondary's: (who answered, the completion); (CACHE, None) if
        neither did."""
        for source, model in ((Source.PRIMARY, self.spec.primary), (Source.SECONDARY, self.spec.secondary)):
            try:
                return source, self._call(task, model, source, messages)
            except (EndpointError, _BreakerOpen) as exc:
                reason = exc.error_type if isinstance(exc, EndpointError) else "circuit_breaker_open"
                if source is Source.PRIMARY:
                    task.event("fallback", {"agentslo.fallback.source": "secondary", "gen_ai.request.model": model.name,
                                            "error.type": reason})
        return Source.CACHE, None

    def _call(self, task: _Task, model: Model, source: Source, messages: list[dict[str, str]]) -> Completion:
        """One model's completion, retried with backoff while its breaker lets calls through."""
        breaker = self.breakers[model.name]

        def wait(state: RetryCallState) -> float:
            failure = state.outcome.exception() if state.outcome else None
            asked = failure.retry_after_s if isinstance(failure, EndpointError) else None
            return max(BACKOFF(state), asked or 0.0)

        def before_sleep(state: RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome else None
            task.outcome.retries += 1
            task.event("retry", {"gen_ai.request.model": model.name, "retry.attempt": state.attempt_number,
                                 "retry.delay_s": round(state.upcoming_sleep, 3),
                                 "error.type": getattr(failure, "error_type", "")})

        retrying = Retrying(stop=stop_after_attempt(ATTEMPTS), wait=wait, sleep=task.clock.sleep,
                            retry=retry_if_exception(lambda exc: isinstance(exc, EndpointError) and exc.retryable),
                            before_sleep=before_sleep, reraise=True)
        for attempt in retrying:
            with attempt:
                allowed, moved_from = breaker.allow(task.clock.now_ns())
                self._breaker_moved(task, breaker, moved_from)
                if not allowed:
                    raise _BreakerOpen(model.name)
                return self._attempt(task, model, source, messages, attempt.retry_state.attempt_number)
        raise AssertionError("tenacity ends with a result or the last error")  # pragma: no cover

    def _attempt(self, task: _Task, model: Model, source: Source, messages: list[dict[str, str]],
                 attempt: int) -> Completion:
        client, breaker = self._client, self.breakers[model.name]
        attributes: dict[str, str | int] = {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": model.provider,
            "gen_ai.request.model": model.name, "gen_ai.request.max_tokens": self.spec.max_output_tokens,
            "server.address": client.server_address, "server.port": client.server_port,
            "agentslo.fallback.source": source.label,
        }
        if attempt > 1:
            attributes["http.request.resend_count"] = attempt - 1
        span = self._tracer.start_span(f"chat {model.name}", context=task.context, kind=SpanKind.CLIENT,
                                       start_time=task.clock.now_ns(), attributes=attributes)
        task.outcome.calls += 1
        try:
            completion = client.complete(model=model.name, messages=messages,
                                         max_tokens=self.spec.max_output_tokens)
        except EndpointError as exc:
            task.clock.sleep(exc.processing_s or 0.0)
            task.outcome.failed_calls += 1
            span.set_attribute("error.type", exc.error_type)
            span.set_status(Status(StatusCode.ERROR, str(exc)))
            span.end(end_time=task.clock.now_ns())
            if exc.retryable:
                self._breaker_moved(task, breaker, breaker.failed(task.clock.now_ns()))
            raise
        task.clock.sleep(completion.processing_s or 0.0)
        usage = completion.usage
        span.set_attributes({
            "gen_ai.response.model": completion.model, "gen_ai.response.id": completion.id,
            "gen_ai.response.finish_reasons": [completion.finish_reason],
            "gen_ai.usage.input_tokens": usage.input_tokens, "gen_ai.usage.output_tokens": usage.output_tokens,
            "gen_ai.usage.cache_read.input_tokens": usage.cache_read_tokens,
            "gen_ai.usage.cache_creation.input_tokens": usage.cache_write_tokens,
        })
        span.end(end_time=task.clock.now_ns())
        self._breaker_moved(task, breaker, breaker.succeeded())
        task.tokens += usage.input_tokens + usage.output_tokens
        task.cost_usd += model.cost_usd(completion)
        return completion

    def _breaker_moved(self, task: _Task, breaker: CircuitBreaker, moved_from: BreakerState | None) -> None:
        if moved_from is None:
            return
        task.outcome.breakers_opened += breaker.state is BreakerState.OPEN
        task.event(f"circuit_breaker.{breaker.state.value}", {
            "circuit_breaker.name": breaker.name, "circuit_breaker.previous_state": moved_from.value,
            "circuit_breaker.failures": breaker.failures})

    def _use_tool(self, task: _Task, tool: str) -> str:
        """Run a tool (simulated); a failed one is recorded and the agent carries on without its result."""
        rng = self._rng
        span = self._tracer.start_span(f"execute_tool {tool}", context=task.context, kind=SpanKind.INTERNAL,
                                       start_time=task.clock.now_ns(), attributes={
                                           "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool,
                                           "gen_ai.tool.type": "function",
                                           "gen_ai.tool.call.id": f"call_{rng.getrandbits(48):012x}"})
        task.clock.sleep(rng.uniform(0.05, 0.8))
        result = _filler(f"{tool} result. ", rng.randint(50, 600))
        if rng.random() < 0.03:
            span.set_attribute("error.type", "timeout")
            span.set_status(Status(StatusCode.ERROR, f"{tool} did not answer"))
            result = f"{tool} failed: no result"
        span.end(end_time=task.clock.now_ns())
        return result

    def _cap_reached(self, task: _Task) -> bool:
        spec = self.spec
        for cap, used, limit in (("tokens", task.tokens, spec.max_tokens_per_task),
                                 ("cost_usd", task.cost_usd, spec.max_cost_usd_per_task)):
            if used >= limit:
                task.outcome.capped = True
                task.event("task.cap_reached", {"cap.name": cap, "cap.limit": limit, "cap.used": used})
                return True
        return False


class Fleet:
    """The agents of `specs`, one TracerProvider per service exporting over OTLP/HTTP to `otlp_traces_url`.

    `play_minute(start)` runs every agent's tasks of the minute from `start` (each
    agent's spread over it) and tallies them; `flush()` exports what is buffered.
    """

    def __init__(self, specs: Sequence[AgentSpec], *, llm_url: str, otlp_traces_url: str, seed: int,
                 request_timeout_s: float, resource: Mapping[str, str] | None = None,
                 otlp_headers: Mapping[str, str] | None = None) -> None:
        self._client = ChatClient(llm_url, timeout_s=request_timeout_s)
        self._providers: dict[str, TracerProvider] = {}
        for service in dict.fromkeys(spec.service for spec in specs):
            provider = TracerProvider(resource=Resource.create({"service.name": service, **(resource or {})}))
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_traces_url,
                                                                                headers=dict(otlp_headers or {}))))
            self._providers[service] = provider
        self.agents = [Agent(spec, self._providers[spec.service].get_tracer("agentslo-demo-fleet"), self._client,
                             random.Random(f"{seed}:{spec.name}")) for spec in specs]
        self._offsets = {agent.spec.name: random.Random(f"{seed}:offset:{agent.spec.name}").random()
                         for agent in self.agents}

    def play_minute(self, start: datetime) -> MinuteOutcome:
        """Every agent's tasks starting in the minute from `start`, in the order they start, tallied."""
        schedule: list[tuple[datetime, Agent]] = []
        for agent in self.agents:
            count = agent.spec.tasks_per_minute
            schedule += [(start + timedelta(minutes=(i + self._offsets[agent.spec.name]) / count), agent)
                         for i in range(count)]
        minute = MinuteOutcome()
        for at, agent in sorted(schedule, key=lambda item: item[0]):
            minute.add(agent.run_task(at))
        end_ns = int((start + timedelta(minutes=1)).timestamp() * _NS)
        minute.breakers_open = sum(breaker.is_open(end_ns) for agent in self.agents
                                   for breaker in agent.breakers.values())
        return minute

    def flush(self) -> bool:
        """Export every span ended so far; False if an exporter could not."""
        return all(provider.force_flush() for provider in self._providers.values())

    def shutdown(self) -> None:
        """Export what is left and close the exporters and the client."""
        for provider in self._providers.values():
            provider.shutdown()
        self._client.close()


def _filler(head: str, tokens: int) -> str:
    """Text of about `tokens` tokens (four characters each) starting with `head`."""
    text = head + "lorem ipsum dolor sit amet " * (tokens // 6 + 1)
    return text[:max(tokens * 4, len(head))]

