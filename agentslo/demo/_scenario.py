"""The demo's story as data: the fleet, the provider faults of each phase, and where in time it plays.

Four agents in three services call five models of three providers through one
endpoint. The support desk's two agents fall back from one OpenAI model to
another, so an OpenAI outage leaves them their cache alone; the research agent
falls back to Anthropic and keeps answering, degraded and dearer (a fifth of its
briefs then reach its $0.07 cost cap, which on gpt-4.1 they never do); the
finance agent does not use OpenAI at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from agentslo.demo._fake_llm import PRICE_LIST, Faults
from agentslo.demo._fleet import AgentSpec, Model

__all__ = ["FLEET", "PHASES", "Phase", "scenario_start"]

_PRICES = {price.model: price for price in PRICE_LIST}


def _model(name: str) -> Model:
    """A model with the list price the agents enforce their cost caps by: the provider's."""
    price = _PRICES[name]
    return Model(name, price.provider, float(price.input_usd_per_mtok), float(price.cache_read_usd_per_mtok),
                 float(price.cache_write_usd_per_mtok), float(price.output_usd_per_mtok))


# Tenants by share of traffic: acme two thirds of it, globex and initech a sixth each.
_TENANTS = ("acme", "acme", "acme", "acme", "globex", "initech")

FLEET: tuple[AgentSpec, ...] = (
    AgentSpec(name="triage", service="support-desk", task_type="classify_ticket", feature="inbox",
              primary=_model("gpt-4.1-mini"), secondary=_model("gpt-4.1"), tasks_per_minute=8, steps=(1, 1),
              tools=(), repeat_share=0.7, prompt_tokens=1600, max_output_tokens=150,
              max_tokens_per_task=8_000, max_cost_usd_per_task=0.01, tenants=_TENANTS, users_per_tenant=40),
    AgentSpec(name="responder", service="support-desk", task_type="draft_reply", feature="auto-reply",
              primary=_model("gpt-4.1"), secondary=_model("gpt-4.1-mini"), tasks_per_minute=5, steps=(2, 3),
              tools=("lookup_order", "search_kb"), repeat_share=0.15, prompt_tokens=2400, max_output_tokens=500,
              max_tokens_per_task=30_000, max_cost_usd_per_task=0.08, tenants=_TENANTS, users_per_tenant=40),
    AgentSpec(name="researcher", service="research", task_type="research_brief", feature="insights",
              primary=_model("gpt-4.1"), secondary=_model("claude-sonnet-4-5"), tasks_per_minute=2, steps=(3, 5),
              tools=("web_search", "read_page"), repeat_share=0.05, prompt_tokens=3000, max_output_tokens=900,
              max_tokens_per_task=60_000, max_cost_usd_per_task=0.07, tenants=_TENANTS, users_per_tenant=15),
    AgentSpec(name="invoice-checker", service="finance", task_type="reconcile_invoice", feature="billing-ops",
              primary=_model("gemini-2.5-flash"), secondary=_model("claude-haiku-4-5"), tasks_per_minute=3,
              steps=(2, 2), tools=("fetch_invoice",), repeat_share=0.2, prompt_tokens=1200, max_output_tokens=300,
              max_tokens_per_task=20_000, max_cost_usd_per_task=0.03, tenants=_TENANTS, users_per_tenant=10),
)


@dataclass(frozen=True)
class Phase:
    """A stretch of the story: its name, its length in minutes, and each provider's faults meanwhile."""

    name: str
    minutes: int
    faults: Mapping[str, Faults]


# Every provider now and then rate-limits or fails a request: retries absorb it.
_EVERYDAY = Faults(rate_limited=0.003, server_error=0.002)
_NORMAL = {"openai": _EVERYDAY, "anthropic": _EVERYDAY, "gcp.gemini": _EVERYDAY}
# OpenAI down: every request fails, mostly 503s, some 429s, a few never answered.
_OPENAI_DOWN = {**_NORMAL, "openai": Faults(server_error=0.8, rate_limited=0.15, timeout=0.05)}

PHASES: tuple[Phase, ...] = (
    Phase("normal", 10, _NORMAL),
    Phase("outage", 12, _OPENAI_DOWN),
    Phase("recovery", 13, _NORMAL),
)


def scenario_start(now: datetime, minutes: int) -> datetime:
    """When a compressed run of `minutes` starts: it ends a minute before `now` (every span it sends is in
    the past, as exported spans are), on whole minutes, within one UTC day so that daily budgets see it
    all; so just after midnight it plays late the day before."""
    end = now.astimezone(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    start = end - timedelta(minutes=minutes)
    if start.date() != end.date():
        start = datetime.combine(end.date(), datetime.min.time(), UTC) - timedelta(minutes=minutes + 1)
    return start
