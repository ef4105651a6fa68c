"""`agentslo demo`: play the scenario's fleet against AgentSLO, minute by minute, and show what it sees.

Two ways to run, by where AgentSLO is:

- embedded (`run_embedded`): an AgentSloServer in this process, on a store of
  its own, with the demo's config and a webhook receiver of the demo's. Its
  clock is the demo's: after each simulated minute the clock moves on and one
  evaluation runs, so the whole story plays in about a minute. The alerts
  printed are the messages the receiver got, and the summary compares AgentSLO's
  cost by model, read from its store, with what the fake endpoint billed.
- a running service (`run_against`): time is real, one simulated minute a
  minute, so the story takes as long as it tells (`scenario_minutes()`). The
  service evaluates on its own schedule with its own SLOs (start it with the
  demo's config to see them) and sends alerts to its own receivers; the demo
  prints the alerts the service lists, and the fake endpoint's bill (AgentSLO's
  cost by model is on the LLM overview dashboard).

Either way each minute prints a line: the fleet's tasks, failures, fallbacks,
retries, open breakers, spend today and each SLO's budget left and alert state.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic import TypeAdapter
from rich.console import Console
from rich.table import Table

from agentslo.config import Config, load_config
from agentslo.demo._fake_llm import FakeLlm
from agentslo.demo._fleet import Fleet, MinuteOutcome
from agentslo.demo._receiver import AlertReceiver, alert_line
from agentslo.demo._scenario import FLEET, PHASES, Phase, scenario_start
from agentslo.serve import AgentSloServer, ServerThread
from alerts import ReceiverSpec
from ground.storage import Storage
from ground.tables import TRACES
from slo import format_usd

__all__ = ["CONFIG_FILE", "DemoRefused", "DemoResult", "demo_config", "run_against", "run_embedded", "scenario_minutes"]

CONFIG_FILE = Path(__file__).with_name("agentslo-demo.yaml")
MINUTE = timedelta(minutes=1)
# Each evaluation runs this far into the minute after the one played, as a scheduler's tick would.
_EVALUATED_INTO_MINUTE = timedelta(seconds=5)
_SEED = 15
# The fake answers at once (it reports its latency instead of taking it), in about a millisecond:
# half a second on loopback is only ever reached by the requests it is told to leave unanswered.
_REQUEST_TIMEOUT_S = 0.5
_RESOURCE = {"deployment.environment.name": "demo", "service.version": "2.4.1"}


def scenario_minutes(phases: Sequence[Phase] = PHASES) -> int:
    """How many minutes the story lasts."""
    return sum(phase.minutes for phase in phases)


@dataclass(frozen=True)
class DemoResult:
    """What a run saw: the fleet's totals, the alerts (and, embedded, the webhook messages), and cost by model.

    `agentslo_usd` is AgentSLO's cost by model, None when the service is elsewhere.
    """

    tasks: int
    failed: int
    fallbacks: int
    capped: int
    alert_lines: tuple[str, ...]
    notifications: tuple[dict[str, Any], ...]
    billed_usd: Mapping[str, Decimal]
    agentslo_usd: Mapping[str, float] | None


def demo_config(*, http_port: int, receiver_url: str) -> Config:
    """The demo's config (CONFIG_FILE) for a service in the demo's process: its port, the demo's receiver,
    no scheduled evaluations (the demo runs one per simulated minute) and mapping in-process."""
    config = load_config(CONFIG_FILE, env={})
    url = f"http://127.0.0.1:{http_port}"
    return config.model_copy(update={
        "server": config.server.model_copy(update={"http_port": http_port, "grpc_port": 0}),
        "evaluation": config.evaluation.model_copy(update={"interval_s": 3600}),
        "ingest": config.ingest.model_copy(update={"workers": 0}),
        "alerts": config.alerts.model_copy(update={
            "external_url": url,
            "receivers": (TypeAdapter(ReceiverSpec).validate_python({"name": "demo", "url": receiver_url}),)}),
    })


@dataclass(frozen=True)
class _Report:
    """What AgentSLO says after a minute: SLO statuses and budgets (the API's JSON), and new alert lines."""

    slos: list[dict[str, Any]]
    budgets: list[dict[str, Any]]
    alert_lines: list[str]


class _Target(Protocol):
    url: str
    ingest_headers: Mapping[str, str]

    def wait_until(self, moment: datetime) -> None: ...

    def report(self, minute_end: datetime) -> _Report: ...

    def close(self) -> None: ...


def run_embedded(storage: Storage, *, console: Console, phases: Sequence[Phase] = PHASES) -> DemoResult:
    """Play the story in compressed time against an AgentSLO in this process, on `storage` (closed at the end)."""
    start = scenario_start(datetime.now(UTC), scenario_minutes(phases))
    receiver = AlertReceiver().start()
    fake = FakeLlm(seed=_SEED).start()
    clock = _SettableClock(start)
    service = ServerThread(AgentSloServer(demo_config(http_port=_free_port(), receiver_url=receiver.url), storage,
                                          clock=clock, source=f"{CONFIG_FILE.name} (agentslo demo)"))
    try:
        service.start()
        target = _EmbeddedTarget(service, clock, receiver)
        console.print(f"AgentSLO   {service.url}  in this process, on a store of its own; its clock moves one "
                      "minute per line", highlight=False)
        console.print(f"fake LLM   {fake.url}  bills at list price, fails when told", highlight=False)
        console.print(f"receiver   {receiver.url}  prints what AgentSLO sends", highlight=False)
        totals = _play(target, fake, start, phases, console)
        result = totals.result(receiver.messages(), fake.billed_usd(), _cost_by_model(storage))
    finally:
        service.stop()
        fake.stop()
        receiver.stop()
    _summary(result, console)
    return result


class DemoRefused(Exception):
    """The AgentSLO played against refuses the demo's spans or API calls: the message says which key to pass."""


def run_against(url: str, *, console: Console, phases: Sequence[Phase] = PHASES,
                now: Callable[[], datetime] = lambda: datetime.now(UTC),
                sleep: Callable[[float], None] = time.sleep,
                ingest_key: str | None = None, api_key: str | None = None) -> DemoResult:
    """Play the story in real time against the AgentSLO at `url`: each minute is played once it has passed.

    With API keys on that service, the spans go with `ingest_key` and the API is read with `api_key`;
    DemoRefused, before anything is played, when either is refused.
    """
    target = _RemoteTarget(url, now, sleep, ingest_key=ingest_key, api_key=api_key)
    try:
        target.check()
    except DemoRefused:
        target.close()
        raise
    start = now().replace(second=0, microsecond=0) + MINUTE
    fake = FakeLlm(seed=_SEED).start()
    try:
        console.print(f"AgentSLO   {url}  in real time: {scenario_minutes(phases)} minutes, from "
                      f"{start:%H:%M} UTC", highlight=False)
        console.print(f"fake LLM   {fake.url}  bills at list price, fails when told", highlight=False)
        totals = _play(target, fake, start, phases, console)
        result = totals.result([], fake.billed_usd(), None)
    finally:
        fake.stop()
    _summary(result, console)
    return result


@dataclass
class _Totals:
    tasks: int = 0
    failed: int = 0
    fallbacks: int = 0
    capped: int = 0
    alert_lines: list[str] = field(default_factory=list)

    def result(self, notifications: Sequence[dict[str, Any]], billed_usd: Mapping[str, Decimal],
               agentslo_usd: Mapping[str, float] | None) -> DemoResult:
        return DemoResult(self.tasks, self.failed, self.fallbacks, self.capped, tuple(self.alert_lines),
                          tuple(notifications), billed_usd, agentslo_usd)


def _play(target: _Target, fake: FakeLlm, start: datetime, phases: Sequence[Phase], console: Console) -> _Totals:
    fleet = Fleet(FLEET, llm_url=fake.url, otlp_traces_url=f"{target.url}/v1/traces", seed=_SEED,
                  request_timeout_s=_REQUEST_TIMEOUT_S, resource=_RESOURCE, otlp_headers=target.ingest_headers)
    services = sorted({spec.service for spec in FLEET})
    console.print(f"{len(FLEET)} agents in {len(services)} services ({', '.join(services)}): "
                  + ", ".join(f"{phase.name} {phase.minutes} min" for phase in phases), highlight=False)
    totals = _Totals()
    progress: _Progress | None = None
    try:
        begin = start
        for phase in phases:
            fake.set_faults(phase.faults)
            for _ in range(phase.minutes):
                target.wait_until(begin + MINUTE)
                minute = fleet.play_minute(begin)
                fleet.flush()
                report = target.report(begin + MINUTE)
                progress = progress or _Progress(console, [slo["name"] for slo in report.slos])
                progress.row(begin, phase.name, minute, report)
                totals.tasks += minute.tasks
                totals.failed += minute.failed
                totals.fallbacks += minute.fallbacks
                totals.capped += minute.capped
                totals.alert_lines += report.alert_lines
                begin += MINUTE
    finally:
        fleet.shutdown()
        target.close()
    return totals


class _Progress:
    """One line per minute, under a header printed once."""

    def __init__(self, console: Console, slo_names: Sequence[str]) -> None:
        self._console = console
        self._widths = [max(len(name), 18) for name in slo_names]
        self._names = slo_names
        heads = "".join(f"  {name:>{width}}" for name, width in zip(slo_names, self._widths))
        console.print(f"\n[bold]{'UTC':<5}  {'phase':<8} {'tasks':>5} {'failed':>6} {'fallbk':>6} {'cached':>6} "
                      f"{'retries':>7} {'open':>4} {'spent today':>11}{heads}[/bold]", highlight=False)
        console.print(f"[dim]{'':<5}  {'':<8} {'':>5} {'':>6} {'':>6} {'':>6} {'':>7} {'brkr':>4} {'':>11}"
                      + "".join(f"  {'SLI, burn 5m':>{width}}" for width in self._widths) + "[/dim]", highlight=False)

    def row(self, begin: datetime, phase: str, minute: MinuteOutcome, report: _Report) -> None:
        spent = next((b["spent_usd"] for b in report.budgets if b["per"] is None), None)
        by_name = {slo["name"]: slo for slo in report.slos}
        cells = "".join(f"  {_slo_cell(by_name.get(name), width)}" for name, width in zip(self._names, self._widths))
        failed = f"[red]{minute.failed:>6}[/red]" if minute.failed else f"{minute.failed:>6}"
        self._console.print(
            f"{begin:%H:%M}  {phase:<8} {minute.tasks:>5} {failed} {minute.fallbacks:>6} {minute.from_cache:>6} "
            f"{minute.retries:>7} {minute.breakers_open:>4} {'-' if spent is None else format_usd(spent):>11}{cells}",
            highlight=False)
        for line in report.alert_lines:
            style = "bold red" if line.startswith("FIRING") else "green"
            self._console.print(f"[{style}]  >> {line}[/{style}]", highlight=False)


def _slo_cell(slo: Mapping[str, Any] | None, width: int) -> str:
    """The SLI over the SLO's window, the burn rate over the last 5 minutes, and the alert firing if any."""
    if slo is None or slo["sli"] is None:
        return f"{'no data':>{width}}"
    burn = next((rate["burn_rate"] for rate in slo["burn_rates"] if rate["window"] == "5m"), None)
    text = f"{slo['sli'] * 100:.2f}% {'-' if burn is None else f'{burn:.1f}x'}"
    if slo["alert_state"] in ("page", "ticket"):
        return f"[bold red]{text + ' ' + slo['alert_state'].upper():>{width}}[/bold red]"
    return f"{text:>{width}}"


def _summary(result: DemoResult, console: Console) -> None:
    console.print(f"\n{result.tasks} tasks: {result.failed} failed, {result.fallbacks} answered by a fallback, "
                  f"{result.capped} reached a cap; {len(result.alert_lines)} alert notifications", highlight=False)
    table = Table(title="Cost by model: AgentSLO's figure and the endpoint's bill")
    for heading in ("model", "AgentSLO", "billed", "difference"):
        table.add_column(heading, justify="left" if heading == "model" else "right")
    agentslo = result.agentslo_usd
    for model in sorted(set(result.billed_usd) | set(agentslo or {})):
        billed = result.billed_usd.get(model, Decimal(0))
        if agentslo is None:
            table.add_row(model, "-", f"${billed:.6f}", "-")
            continue
        ours = Decimal(repr(agentslo.get(model, 0.0)))
        difference = (ours - billed).quantize(Decimal("1e-9"))
        table.add_row(model, f"${ours:.6f}", f"${billed:.6f}", "none" if not difference else f"${difference:+}")
    total = sum(result.billed_usd.values(), Decimal(0))
    table.add_row("total", "-" if agentslo is None else f"${Decimal(repr(sum(agentslo.values()))):.6f}",
                  f"${total:.6f}", "", style="bold")
    console.print(table)
    if agentslo is None:
        console.print("AgentSLO's cost by model: the LLM overview dashboard, or in SQL: SELECT RequestModel, "
                      f"sum(CostUsd) FROM {TRACES} WHERE CostSource != '' GROUP BY RequestModel", highlight=False)


def _cost_by_model(storage: Storage) -> dict[str, float]:
    """AgentSLO's cost of every model call, per model asked for, as ingest priced it."""
    rows = storage.query(f"SELECT RequestModel, sum(CostUsd) FROM {TRACES} WHERE CostSource != '' "
                         "GROUP BY RequestModel").rows
    return {model: float(cost) for model, cost in rows}


class _SettableClock:
    """The embedded service's time: the demo sets it after each minute it plays."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class _EmbeddedTarget:
    """The service in this process: after each minute, move its clock, evaluate, and collect the messages."""

    def __init__(self, service: ServerThread, clock: _SettableClock, receiver: AlertReceiver) -> None:
        self.url = service.url
        self.ingest_headers: Mapping[str, str] = {}   # its own service, open on loopback
        self._clock = clock
        self._receiver = receiver
        self._seen = 0
        self._http = httpx.Client(base_url=service.url, timeout=60)

    def wait_until(self, moment: datetime) -> None:
        """No wait: the service's time is the demo's."""

    def close(self) -> None:
        self._http.close()

    def report(self, minute_end: datetime) -> _Report:
        self._clock.now = minute_end + _EVALUATED_INTO_MINUTE
        evaluation = _json(self._http.post("/api/v1/evaluate"))
        self._delivered()
        messages = self._receiver.messages()
        lines = [alert_line(alert["status"], alert["labels"], alert["annotations"])
                 for message in messages[self._seen:] for alert in message["alerts"]]
        self._seen = len(messages)
        return _Report(evaluation["slos"], evaluation["budgets"], lines)

    def _delivered(self, timeout_s: float = 30) -> None:
        """Wait until the delivery loop has tried every notification queued so far."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            deliveries = _json(self._http.get("/api/v1/alerts", params={"limit": 50}))["deliveries"]
            if all(d["attempts"] or d["state"] != "pending" for d in deliveries):
                return
            time.sleep(0.02)


class _RemoteTarget:
    """A service elsewhere, on real time: wait for each minute to pass, then read its status and alerts."""

    def __init__(self, url: str, now: Callable[[], datetime], sleep: Callable[[float], None], *,
                 ingest_key: str | None, api_key: str | None) -> None:
        self.url = url.rstrip("/")
        self.ingest_headers = _bearer(ingest_key)
        self._now = now
        self._sleep = sleep
        self._phases: dict[str, str] = {}
        self._http = httpx.Client(base_url=self.url, timeout=60, headers=_bearer(api_key))

    def check(self) -> None:
        """Raise DemoRefused unless the service takes the demo's spans (an empty export) and shows its SLOs."""
        export = httpx.post(f"{self.url}/v1/traces", content=b"", timeout=60,
                            headers={"content-type": "application/x-protobuf", **self.ingest_headers})
        if export.status_code in (401, 403):
            raise DemoRefused(f"AgentSLO at {self.url} refused the demo's spans ({export.status_code}): pass "
                              "--ingest-key (or set AGENTSLO_INGEST_KEY) with an ingest key")
        slos = self._http.get("/api/v1/slos")
        if slos.status_code in (401, 403):
            raise DemoRefused(f"AgentSLO at {self.url} refused to show its SLOs ({slos.status_code}): pass "
                              "--api-key (or set AGENTSLO_API_KEY) with a read key")

    def close(self) -> None:
        self._http.close()

    def wait_until(self, moment: datetime) -> None:
        while (left := (moment - self._now()).total_seconds()) > 0:
            self._sleep(left)

    def report(self, minute_end: datetime) -> _Report:
        slos = _json(self._http.get("/api/v1/slos"))
        budgets = _json(self._http.get("/api/v1/budgets"))
        lines = []
        for alert in _json(self._http.get("/api/v1/alerts"))["alerts"]:
            phase = alert["phase"]
            if phase in ("firing", "resolved") and self._phases.get(alert["fingerprint"]) != phase:
                lines.append(alert_line(phase, alert["labels"], alert["annotations"]))
            self._phases[alert["fingerprint"]] = phase
        return _Report(slos, budgets, lines)


def _bearer(key: str | None) -> dict[str, str]:
    return {} if key is None else {"authorization": f"Bearer {key}"}


def _json(response: httpx.Response) -> Any:
    response.raise_for_status()
    return response.json()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
