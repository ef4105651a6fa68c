"""The console in a real browser: Debian's headless Chromium, driven by Playwright, kept off the network.

One service fed the agent scenario over OTLP and one browser for the module. Each page is
checked against the JSON API's numbers, with no error in the browser's console and no
request leaving the service's address; a screenshot of each goes to var/screenshots/
(README, Console), for a reviewer to look at.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from slo import format_usd
from tests.console.conftest import Fed, feed
from tests.support.agent_scenario import KNOWN

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
# As root, headless, and never reaching out: no sandbox (root), no GPU, no background or update traffic.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-default-apps", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
# The browser's time zone: half-hour offset from UTC, so a time left in UTC cannot pass for local.
ZONE = "Asia/Kolkata"


@dataclass
class Browser:
    """A browser page on the fed service, with what went wrong in it."""

    page: object
    base: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def open(self, path: str, screenshot: str) -> object:
        response = self.page.goto(self.base + path, wait_until="load")  # type: ignore[attr-defined]
        assert response.status == 200, f"{path}: {response.status}"
        self.page.screenshot(path=str(SCREENSHOTS / f"{screenshot}.png"), full_page=True)  # type: ignore[attr-defined]
        return self.page


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory, chdb_dir: Path, request: pytest.FixtureRequest) -> Iterator[Fed]:
    yield from feed("embedded", tmp_path_factory.mktemp("browser"), chdb_dir, request)


@pytest.fixture(scope="module")
def browser(fed: Fed) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: ./dev installs Debian's chromium package before the tests")
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    with playwright_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = chromium.new_context(timezone_id=ZONE, locale="en-GB", viewport={"width": 1400, "height": 900})
        own = urlsplit(fed.service.http_url).netloc
        found = Browser(context.new_page(), fed.service.http_url)

        def only_the_service(route: object) -> None:
            url = route.request.url  # type: ignore[attr-defined]
            if urlsplit(url).netloc == own or url.startswith("data:"):
                route.continue_()  # type: ignore[attr-defined]
            else:
                found.foreign.append(url)
                route.abort()  # type: ignore[attr-defined]

        context.route("**/*", only_the_service)
        found.page.on("console", lambda m: found.errors.append(m.text) if m.type == "error" else None)
        found.page.on("pageerror", lambda e: found.errors.append(str(e)))
        try:
            yield found
        finally:
            context.close()
            chromium.close()


@pytest.fixture(autouse=True)
def clean(browser: Browser) -> Iterator[None]:
    browser.errors.clear()
    browser.foreign.clear()
    yield
    assert browser.errors == [], "the browser's console"
    assert browser.foreign == [], "requests beyond the service"


def pct(ratio: float | None, digits: int) -> str:
    return "–" if ratio is None else f"{100 * ratio:.{digits}f}%"


def test_the_slos_page_shows_each_slo_as_the_api_gives_it_least_budget_first(fed: Fed, browser: Browser) -> None:
    page = browser.open("/", "slos")
    api = {slo["name"]: slo for slo in fed.get("/api/v1/slos").json()}
    rows = page.locator("#slos tbody tr")
    shown = [rows.nth(i).get_attribute("data-slo") for i in range(rows.count())]
    assert shown == sorted(api, key=lambda name: api[name]["error_budget_remaining"])
    for name in shown:
        row = page.locator(f'#slos tr[data-slo="{name}"]')
        assert row.locator(".sli").inner_text() == pct(api[name]["sli"], 3)
        assert row.locator(".objective").inner_text() == pct(api[name]["objective"], 3)
        assert row.locator(".budget .figure").inner_text() == pct(api[name]["error_budget_remaining"], 1)
    rates = {r["window"]: r["burn_rate"] for r in api["support-tasks"]["burn_rates"]}
    pairs = page.locator('#slos tr[data-slo="support-tasks"] ul.pairs li').all_inner_texts()
    assert len(pairs) == 4  # page and ticket, two window pairs each (7d: 14m/1m, 84m/7m, 6h/28m, 1d/84m)
    for pair in pairs:
        severity, long, short, long_rate, short_rate = re.fullmatch(
            r"(\w+) (\w+)/(\w+): (\S+) / (\S+) vs \S+×", pair.strip()).groups()
        assert (long_rate, short_rate) == tuple("–" if rates.get(w) is None else f"{rates[w]:.2f}" for w in (long, short))


def test_an_slo_page_draws_its_history_and_shows_its_config(fed: Fed, browser: Browser) -> None:
    page = browser.open("/slos/support-tasks", "slo")
    api = fed.get("/api/v1/slos/support-tasks").json()
    facts = page.locator("#slo-facts")
    assert facts.locator(".sli").inner_text() == pct(api["sli"], 3)
    assert (facts.locator(".good").inner_text(), facts.locator(".total").inner_text()) == ("3", "4")
    for chart in ("#burn-down", "#sli-history"):  # drawn by plotly.js as SVG, its axes as text
        assert page.locator(f"{chart} svg.main-svg").count() >= 1
        assert page.locator(f"{chart} .xtick").count() > 0
    assert "value: support-desk" in page.locator("pre.config").inner_text()
    assert page.locator("#burn-rates tbody tr").count() == 4


def test_the_spend_page_shows_the_budgets_and_the_breakdowns_of_the_api(fed: Fed, browser: Browser) -> None:
    page = browser.open("/spend", "spend")
    budgets = fed.get("/api/v1/budgets").json()
    for budget in budgets:
        row = page.locator(f'#budgets tr[data-budget="{budget["budget"]}"][data-member="{budget["member"] or ""}"]')
        assert row.locator(".spent").inner_text() == format_usd(budget["spent_usd"])
        assert row.locator(".cap").inner_text() == format_usd(budget["limit_usd"])
        assert row.locator(".projected").inner_text() == format_usd(budget["projected_usd"])
    spend = fed.get("/api/v1/spend").json()
    for breakdown in spend["breakdowns"]:
        table = page.locator(f"#by-{breakdown['dimension']} tbody tr")
        assert [table.nth(i).locator("th").inner_text() for i in range(table.count())] == [
            row["key"] for row in breakdown["rows"]]
        assert [table.nth(i).locator(".cost").inner_text() for i in range(table.count())] == [
            format_usd(row["cost_usd"]) for row in breakdown["rows"]]
    assert page.locator("#unpriced tbody th").all_inner_texts() == ["llama-local"]
    assert page.locator("#daily-spend svg.main-svg").count() >= 1
    small = page.locator("#by-model tbody tr", has_text="gpt-4o-mini").locator(".cost").inner_text()
    assert small.startswith("$0.000") and small != "$0.00"  # a small cost keeps its digits


def test_filters_narrow_the_task_list_and_a_task_leads_to_its_trace(fed: Fed, browser: Browser) -> None:
    page = browser.open("/tasks?range=7d", "tasks")
    api = fed.get("/api/v1/tasks").json()["tasks"]
    rows = page.locator("#tasks tbody tr")
    assert [rows.nth(i).get_attribute("data-task") for i in range(rows.count())] == [t["task_id"] for t in api]
    known = page.locator(f'#tasks tr[data-trace="{fed.trace_ids[0]}"]')
    assert known.locator(".cost").inner_text() == format_usd(next(
        t["cost_usd"] for t in api if t["trace_id"] == fed.trace_ids[0]))
    assert "claude-sonnet-4-5, gpt-4o, gpt-4o-mini" in known.inner_text()
    page.fill("input[name=agent]", "researcher")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state("load")
    assert page.locator("#tasks tbody tr").count() == 2
    page.select_option("select[name=status]", "error")
    page.fill("input[name=agent]", "")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state("load")
    page.screenshot(path=str(SCREENSHOTS / "tasks-failed.png"), full_page=True)
    assert [page.locator("#tasks tbody tr").nth(0).get_attribute("data-trace")] == [fed.trace_ids[2]]
    browser.open("/tasks?range=7d&limit=4", "tasks-page-1")
    page.click("a[rel=next]")
    page.wait_for_load_state("load")
    assert page.locator("#tasks tbody tr").count() == 2
    page.click("a:text('Newest')")
    page.wait_for_load_state("load")
    page.click(f'#tasks tr[data-trace="{fed.trace_ids[5]}"] a')
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() == f"Trace {fed.trace_ids[5]}"


def test_the_trace_view_draws_the_spans_of_a_trace_in_order_as_text(fed: Fed, browser: Browser) -> None:
    page = browser.open(f"/traces/{fed.trace_ids[0]}", "trace")
    spans = page.locator("#waterfall > li")
    names = [spans.nth(i).locator("summary .name").inner_text() for i in range(spans.count())]
    assert names == ["invoke_agent support", *(call.name for call in KNOWN.calls)]
    assert [spans.nth(i).get_attribute("data-depth") for i in range(spans.count())] == ["0", "1", "1", "1", "1"]
    api = fed.get(f"/api/v1/traces/{fed.trace_ids[0]}").json()["spans"]
    widths = [spans.nth(i).locator(".bar").evaluate("e => e.getBoundingClientRect().width") for i in range(5)]
    track = spans.nth(0).locator(".track").evaluate("e => e.getBoundingClientRect().width")
    assert [round(100 * w / track, 1) for w in widths] == [round(s["width_pct"], 1) for s in api]
    claude = spans.nth(4)
    assert format_usd(api[4]["cost_usd"]) in claude.locator("summary .figures").inner_text()
    claude.locator("summary").first.click()
    detail = claude.locator(".detail").inner_text()
    assert "900 in (0 cache read, 0 cache write) · 500 out" in detail
    assert f"{format_usd(api[4]['cost_usd'])} (priced)" in detail
    assert "secondary (degraded)" in detail
    spans.nth(1).locator("summary").first.click()
    assert "retry" in spans.nth(1).locator("table.events").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "trace-open.png"), full_page=True)
    started = datetime.fromisoformat(api[0]["start"]).astimezone(ZoneInfo(ZONE))
    shown = page.locator("#trace-facts time").inner_text()
    assert started.strftime("%H:%M:%S") in shown and "GMT+5:30" in shown  # the browser's zone, not UTC


def test_the_alerts_page_and_the_api_docs_work_offline(fed: Fed, browser: Browser) -> None:
    page = browser.open("/alerts", "alerts")
    alerts = fed.get("/api/v1/alerts").json()
    assert page.locator("#alerts tbody tr").count() == len(alerts["alerts"])
    page = browser.open("/docs", "docs")
    page.wait_for_selector(".opblock-summary-path[data-path='/api/v1/tasks']")
    page.screenshot(path=str(SCREENSHOTS / "docs.png"), full_page=False)
    assert page.locator(".swagger-ui .info .title").inner_text().startswith("AgentSLO")
