"""The Grafana alert rules decide as the service does: replayed scenarios, minute by minute, fire and stay
silent on the same alerts in both.

Each minute the real engine evaluates the SLOs and appends slo_status; the
service's alert rules (alerts.alert_conditions through the state machine) and
the generated Grafana rules (their SQL with the plugin's macros expanded, run
on the same store, then Grafana's pending/firing states with each rule's
`for`) are compared: the same alerts must be firing after every minute.
Embedded only: the rules' SQL runs on both backends in test_panel_queries.py,
and an hour of minutes through the HTTP stand-in costs over a minute of suite.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from alerts import AlertPolicy, AlertsSpec, AlertState, Phase, advance, alert_conditions
from dashboards import Format, PanelQuery, alert_rules, expand_macros
from ground.storage import Storage, migrate
from slo.engine import catch_up, evaluate, write_status
from tests.slo.traces import MINUTE, SECOND, T0, chat, insert, make_slo

# Services whose model calls tell a story each (minute ranges are from T0).
SCENARIOS = {
    # 10 calls a minute; a total outage in minutes 20-29, half of the calls failing in 40-44.
    "fast": lambda m: (10, 10 if 20 <= m < 30 else 5 if 40 <= m < 45 else 0),
    # 10 calls a minute; an outage in 15-24; silent from minute 45 on (no data).
    "held": lambda m: (0 if m >= 45 else 10, 10 if 15 <= m < 25 else 0),
    # A rare tool: three calls in the hour, the second failing (min_events must hold it back).
    "rare": lambda m: (1 if m in (28, 30, 32) else 0, 1 if m == 30 else 0),
    # 5 calls a minute, an outage in 20-29: the 2-minute page window never holds the 50 events asked for.
    "strict": lambda m: (5, 5 if 20 <= m < 30 else 0),
}
MINUTES = 60


@pytest.fixture
def backend() -> str:
    return "embedded"


def sli(service: str) -> dict[str, Any]:
    return {"kind": "availability", "over": "llm_calls",
            "filter": [{"column": "ServiceName", "op": "eq", "value": service}]}


SLOS = [
    make_slo("fast", objective=99, window="1d", sli=sli("fast")),
    make_slo("held", objective=99, window="1d", sli=sli("held")),
    make_slo("rare", objective=99.9, window="1d", sli=sli("rare"),
             budgeting={"method": "timeslices", "slice": "5m", "slice_objective": 99.9}),
    make_slo("strict", objective=99, window="1d", sli=sli("strict")),
]
ALERTS = AlertsSpec.model_validate({"defaults": {"min_events": 10}, "slos": {
    "held": {"ticket": False, "for": "2m", "no_data": "5m", "budget_exhausted": True},
    "strict": {"min_events": 50},
}})


def calls() -> list[dict[str, Any]]:
    spans = []
    for service, story in SCENARIOS.items():
        for minute in range(MINUTES):
            total, failed = story(minute)
            for n in range(total):
                spans.append(chat(f"{service}-{minute}-{n}", "1", "caller", at=minute * MINUTE + n * 5 * SECOND,
                                  ServiceName=service, StatusCode="Error" if n < failed else "Unset"))
    return spans


def key(labels: dict[str, str], kind: str) -> tuple[str, ...]:
    return (labels["slo"], kind, labels.get("long_window", ""), labels.get("short_window", ""))


def test_grafana_rules_and_the_service_fire_on_the_same_alerts_minute_by_minute(storage: Storage) -> None:
    store = storage
    migrate(store)
    insert(store, calls())
    policies, default = ALERTS.policies(), ALERTS.default_policy()
    rules = alert_rules(SLOS, policies=policies, default_policy=default)["groups"][0]["rules"]
    service_states: dict[str, AlertState] = {}
    grafana_pending: dict[str, Any] = {}     # rule uid -> when its condition started holding
    history = []
    for minute in range(1, MINUTES + 5):
        now = T0 + minute * MINUTE + 30 * SECOND
        catch_up(store, SLOS, now)
        statuses = evaluate(store, SLOS, now)
        write_status(store, statuses)

        conditions = [c for s in statuses for c in alert_conditions(s, policies.get(s.slo.name, default))]
        service_states, _ = advance(service_states, conditions, now)
        service = {key(dict(s.labels), s.labels["alertname"]) for s in service_states.values()
                   if s.phase is Phase.FIRING}

        grafana = set()
        for rule in rules:
            sql = expand_macros(rule["data"][0]["model"]["rawSql"], start=now - timedelta(minutes=10), end=now,
                                interval=MINUTE, variables={})
            [(holds,)] = store.query(PanelQuery(sql, Format.TABLE, ("holds",)).sql).rows
            if not holds:
                grafana_pending.pop(rule["uid"], None)
                continue
            since = grafana_pending.setdefault(rule["uid"], now)
            pending_for = _seconds(rule["for"])
            if now - since >= timedelta(seconds=pending_for):
                grafana.add(key(rule["labels"], rule["labels"]["kind"]))
        assert grafana == service, f"minute {minute}"
        history.append(service)

    fired = set().union(*history)
    assert {k[:2] for k in fired} == {("fast", "SloErrorBudgetBurn"), ("held", "SloErrorBudgetBurn"),
                                      ("held", "SloNoData"), ("held", "SloErrorBudgetExhausted"),
                                      ("strict", "SloErrorBudgetBurn")}
    assert ("strict", "SloErrorBudgetBurn", "2m", "1m") not in fired, "2 minutes hold 10 events, not 50"
    assert not any(k[0] == "rare" for k in fired), "one failure among a few calls pages nobody"
    assert history[-1] != fired, "alerts also resolve"


def _seconds(duration: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return float(duration[:-1]) * units[duration[-1]]


def test_a_policy_without_tickets_gets_no_ticket_rules_and_its_for_and_repeat() -> None:
    document = alert_rules(SLOS, policies=ALERTS.policies(), default_policy=ALERTS.default_policy())
    held = [rule for rule in document["groups"][0]["rules"] if rule["labels"]["slo"] == "held"]
    assert [(rule["labels"]["kind"], rule["labels"].get("severity"), rule["for"]) for rule in held] == [
        ("SloErrorBudgetBurn", "page", "2m"), ("SloErrorBudgetBurn", "page", "2m"),
        ("SloNoData", "ticket", "4m"), ("SloErrorBudgetExhausted", "ticket", "2m")]
    assert AlertPolicy().repeat_interval == timedelta(hours=4)
