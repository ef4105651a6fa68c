"""`agentslo demo` end to end on loopback: the fleet's spans over OTLP, an AgentSLO on a clock the demo moves,
the demo's own webhook receiver, and the fake provider's bill.

The story (agentslo/demo/_scenario.py): an OpenAI outage leaves the support desk's agents, whose fallback
is another OpenAI model, with their cache alone, so its task SLO and the model-call SLO page on both page
tiers, and resolve in the recovery; the research agent falls back to Anthropic and never pages. Tenant
acme's spend crosses 80% then 100% of its daily cap.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from agentslo.config import load_config
from agentslo.demo import CONFIG_FILE, FLEET, PHASES, DemoRefused, Phase, run_against, run_embedded, scenario_minutes
from ground.storage import open_storage
from tests.conftest import SERVER_ENV, storage_spec
from tests.support.clock import Clock
from tests.support.service import ServiceThread, free_port

PAGES = {(slo, long_window, short_window) for slo in ("support-desk-tasks", "model-calls")
         for long_window, short_window in (("14m", "1m"), ("84m", "7m"))}


def test_the_demo_pages_through_the_outage_resolves_after_it_and_costs_what_the_endpoint_billed(
        chdb_dir: Path) -> None:
    spec = storage_spec("embedded", f"demo_{uuid.uuid4().hex[:10]}", None, chdb_dir)
    printed = io.StringIO()
    started = time.monotonic()
    result = run_embedded(open_storage(spec, env=SERVER_ENV), console=Console(file=printed, width=200))
    assert time.monotonic() - started < 90

    # Every page tier of the two SLOs the outage burns reached the demo's receiver firing, then resolved.
    alerts = [(alert["status"], alert["labels"]) for message in result.notifications for alert in message["alerts"]]
    pages = sorted((status, labels["slo"], labels["long_window"], labels["short_window"])
                   for status, labels in alerts if labels["alertname"] == "SloErrorBudgetBurn")
    assert pages == sorted((status, *page) for page in PAGES for status in ("firing", "resolved"))
    spend = sorted((status, labels["budget"], labels["tenant"], labels["level"])
                   for status, labels in alerts if labels["alertname"] == "SpendBudget")
    assert spend == [("firing", "tenant-daily", "acme", "100%"), ("firing", "tenant-daily", "acme", "80%")]
    # Each message is one printed line.
    output = printed.getvalue()
    for status, slo, long_window, short_window in pages:
        assert f"{status.upper():<8} page   {slo}  windows {long_window}/{short_window}  burn " in output
    assert len(result.alert_lines) == len(alerts)

    # AgentSLO priced every model call as the endpoint billed it, to a billionth of a dollar.
    storage = open_storage(spec, env=SERVER_ENV)
    try:
        rows = storage.query("SELECT RequestModel, sum(CostUsd) FROM otel_traces WHERE CostSource != '' "
                             "GROUP BY RequestModel").rows
        unpriced = storage.query("SELECT count() FROM otel_traces WHERE CostSource = 'unpriced'").scalar()
    finally:
        storage.command(f"DROP DATABASE IF EXISTS {spec.database}")
        storage.close()
    agentslo = {model: Decimal(repr(float(cost))) for model, cost in rows}
    assert set(agentslo) == set(result.billed_usd) >= {"gpt-4.1", "gpt-4.1-mini", "claude-sonnet-4-5"}
    for model, billed in result.billed_usd.items():
        assert abs(agentslo[model] - billed) < Decimal("1e-9"), model
    assert unpriced == 0
    assert "│ total " in output and "difference" in output


def test_against_a_running_service_each_minute_is_played_once_it_has_passed(chdb_dir: Path) -> None:
    config = load_config(CONFIG_FILE, env={})
    spec = storage_spec("embedded", f"demo_{uuid.uuid4().hex[:10]}", None, chdb_dir)
    config = config.model_copy(update={"storage": spec, "ingest": config.ingest.model_copy(update={"workers": 0})})
    service = ServiceThread(config, open_storage(spec, env=SERVER_ENV)).start()
    wall = Clock(datetime.now(UTC))
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        wall.advance(timedelta(seconds=seconds))

    printed = io.StringIO()
    try:
        result = run_against(service.http_url, console=Console(file=printed, width=200),
                             phases=(Phase("normal", 2, {}),), now=wall, sleep=sleep)
        stored = httpx.get(service.http_url + "/metrics", timeout=10).text
    finally:
        service.stop()
    # The first minute starts at the next whole minute and is played once it is over, then the second.
    assert len(waits) == 2 and waits[1] == 60 and 60 < waits[0] <= 120
    assert (wall.now.second, wall.now.microsecond) == (0, 0)
    assert result.tasks == 2 * sum(agent.tasks_per_minute for agent in FLEET)
    assert "agentslo_ingest_spans_total" in stored
    assert result.agentslo_usd is None and result.billed_usd
    output = printed.getvalue()
    assert "in real time: 2 minutes" in output and "the LLM overview dashboard" in output


INGEST_KEY, READ_KEY = "demo-ingest-key-000000000000000001", "demo-read-key-00000000000000000002"


@pytest.fixture
def keyed_service(chdb_dir: Path, monkeypatch: pytest.MonkeyPatch) -> ServiceThread:
    """The demo's config behind API keys: one to write spans (tenant acme), one to read the API."""
    config = load_config(CONFIG_FILE, env={})
    spec = storage_spec("embedded", f"demo_{uuid.uuid4().hex[:10]}", None, chdb_dir)
    auth = config.auth.model_validate({"keys": [
        {"key_env": "TEST_DEMO_INGEST_KEY", "tenant": "acme", "scope": "ingest"},
        {"key_env": "TEST_DEMO_READ_KEY", "tenant": "ops", "scope": "read"}]})
    config = config.model_copy(update={"storage": spec, "auth": auth,
                                       "ingest": config.ingest.model_copy(update={"workers": 0})})
    monkeypatch.setenv("TEST_DEMO_INGEST_KEY", INGEST_KEY)
    monkeypatch.setenv("TEST_DEMO_READ_KEY", READ_KEY)
    service = ServiceThread(config, open_storage(spec, env=SERVER_ENV), api_key=READ_KEY).start()
    yield service
    service.stop()


@pytest.mark.parametrize(("keys", "refusal"), [
    pytest.param({}, "AgentSLO at {url} refused the demo's spans (401): pass --ingest-key (or set "
                     "AGENTSLO_INGEST_KEY) with an ingest key", id="no key"),
    pytest.param({"ingest_key": READ_KEY, "api_key": READ_KEY},
                 "AgentSLO at {url} refused the demo's spans (403): pass --ingest-key (or set AGENTSLO_INGEST_KEY) "
                 "with an ingest key", id="a read key to ingest"),
    pytest.param({"ingest_key": INGEST_KEY}, "AgentSLO at {url} refused to show its SLOs (401): pass --api-key "
                                             "(or set AGENTSLO_API_KEY) with a read key", id="no read key"),
])
def test_against_a_service_with_api_keys_the_demo_says_which_key_it_lacks_before_playing(
        keyed_service: ServiceThread, keys: dict[str, str], refusal: str) -> None:
    with pytest.raises(DemoRefused) as refused:
        run_against(keyed_service.http_url, console=Console(file=io.StringIO()), phases=(Phase("normal", 1, {}),),
                    sleep=lambda seconds: pytest.fail("the demo started playing"), **keys)
    assert str(refused.value) == refusal.format(url=keyed_service.http_url)


def test_against_a_service_with_api_keys_the_demo_sends_its_spans_and_reads_with_the_keys_given(
        keyed_service: ServiceThread) -> None:
    wall = Clock(datetime.now(UTC))
    result = run_against(keyed_service.http_url, console=Console(file=io.StringIO()),
                         phases=(Phase("normal", 1, {}),), now=wall,
                         sleep=lambda seconds: wall.advance(timedelta(seconds=seconds)),
                         ingest_key=INGEST_KEY, api_key=READ_KEY)
    assert result.tasks == sum(agent.tasks_per_minute for agent in FLEET)
    metrics = httpx.get(keyed_service.http_url + "/metrics", headers=keyed_service.headers, timeout=10).text
    stored = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                 if line.startswith("agentslo_ingest_spans_total{") and 'outcome="stored"' in line)
    assert stored >= result.tasks


def test_the_demo_refuses_a_url_where_no_agentslo_answers() -> None:
    agentslo = str(Path(sys.executable).parent / "agentslo")
    url = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run([agentslo, "demo", "--url", url], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (
        1, f"Error: no AgentSLO answers at {url}: start one (./dev run), or run the demo with --embedded\n")


def test_the_help_and_the_readme_tell_how_long_the_story_is() -> None:
    agentslo = str(Path(sys.executable).parent / "agentslo")
    result = subprocess.run([agentslo, "demo", "--help"], capture_output=True, text=True, timeout=60)
    text = " ".join(result.stdout.split())
    minutes = {phase.name: phase.minutes for phase in PHASES}
    assert (f"{minutes['normal']} minutes of normal traffic, {minutes['outage']} of an OpenAI outage "
            f"(breakers open, agents fall back to other models, their cache, then a graceful error), "
            f"{minutes['recovery']} of recovery") in text
    assert f"the {scenario_minutes()} minutes take {scenario_minutes()} minutes" in text
    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8").split())
    assert (f"{minutes['normal']} minutes of normal traffic, {minutes['outage']} of an OpenAI outage" in readme
            and f"{minutes['recovery']} of recovery" in readme and f"the {scenario_minutes()} minutes play" in readme)
