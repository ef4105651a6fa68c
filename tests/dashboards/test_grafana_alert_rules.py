"""Specification of the Grafana alert rules: the service's burn-rate table, per SLO, in file-provisioning form."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dashboards import alert_rules
from slo import format_duration as window_label
from slo import parse_spend_budgets, spend_budget_from_spec
from tests.slo.traces import make_slo

MONTHLY = make_slo("model-availability", objective=99.9, window="month", sli={"kind": "availability", "over": "llm_calls"})


def test_a_30_day_slo_gets_the_workbook_rules_page_and_ticket() -> None:
    [group] = alert_rules([MONTHLY])["groups"]   # no budgets: no spend group
    assert [(rule["labels"]["severity"], rule["labels"]["long_window"], rule["labels"]["short_window"],
             rule["title"]) for rule in group["rules"]] == [
        ("page", "1h", "5m", "model-availability: burn rate 14.4x over 1h and 5m"),
        ("page", "6h", "30m", "model-availability: burn rate 6x over 6h and 30m"),
        ("ticket", "1d", "2h", "model-availability: burn rate 3x over 1d and 2h"),
        ("ticket", "3d", "6h", "model-availability: burn rate 1x over 3d and 6h"),
    ]


def test_each_rule_reads_slo_status_and_fires_on_a_positive_threshold() -> None:
    [rule, *_] = alert_rules([MONTHLY])["groups"][0]["rules"]
    query, reduce, threshold = rule["data"]
    assert "BurnRates['1h'], Timestamp) >= 14.4" in query["model"]["rawSql"]
    assert "FROM slo_status" in query["model"]["rawSql"]
    assert (reduce["model"]["type"], threshold["model"]["type"], rule["condition"]) == ("reduce", "threshold", "C")


def test_the_document_has_a_webhook_contact_point_and_a_policy_routing_to_it() -> None:
    document = alert_rules([MONTHLY])
    assert document["apiVersion"] == 1
    [contact] = document["contactPoints"]
    assert contact["receivers"][0]["type"] == "webhook"
    assert contact["receivers"][0]["settings"]["url"] == "$AGENTSLO_ALERT_WEBHOOK_URL"
    assert document["policies"][0]["receiver"] == contact["name"]


def test_rule_uids_are_unique_and_within_grafanas_40_characters() -> None:
    slos = [MONTHLY, make_slo("a" * 63, window="28d", sli={"kind": "availability", "over": "tasks"})]
    uids = [rule["uid"] for rule in alert_rules(slos)["groups"][0]["rules"]]
    assert len(set(uids)) == len(uids) == 8 and all(len(uid) <= 40 for uid in uids)


@pytest.mark.parametrize(("window", "label"), [
    pytest.param(timedelta(hours=1), "1h", id="an hour is 1h"),
    pytest.param(timedelta(minutes=336), "336m", id="a window of no whole hours is in minutes"),
    pytest.param(timedelta(days=3), "3d", id="three days are 3d"),
])
def test_window_labels_are_the_keys_slo_status_writes(window: timedelta, label: str) -> None:
    assert window_label(window) == label


BUDGETS = [spend_budget_from_spec(spec) for spec in parse_spend_budgets([
    {"name": "llm-daily", "period": "day", "limit_usd": 200},
    {"name": "per-user-daily", "period": "day", "limit_usd": 5, "per": "user", "service": "support-agent"},
], where="test")]


def test_each_spend_budget_gets_a_rule_per_level_labelled_like_the_services_alerts() -> None:
    [_, group] = alert_rules([MONTHLY], BUDGETS)["groups"]
    assert [(rule["title"], rule["labels"]) for rule in group["rules"]] == [
        ("llm-daily: spend reached 80% of $200 per day",
         {"budget": "llm-daily", "period": "day", "level": "80%", "severity": "ticket"}),
        ("llm-daily: spend reached 100% of $200 per day",
         {"budget": "llm-daily", "period": "day", "level": "100%", "severity": "page"}),
        ("per-user-daily (each user): spend reached 80% of $5 per day",
         {"budget": "per-user-daily", "period": "day", "level": "80%", "severity": "ticket",
          "service": "support-agent"}),
        ("per-user-daily (each user): spend reached 100% of $5 per day",
         {"budget": "per-user-daily", "period": "day", "level": "100%", "severity": "page",
          "service": "support-agent"}),
    ]
    sql = group["rules"][2]["data"][0]["model"]["rawSql"]
    assert sql.startswith("SELECT member AS user, toFloat64(spent_usd >= 4.0) AS reached")
    assert "FROM agent_tasks FINAL" in sql and "AND ServiceName = 'support-agent'" in sql


def test_spend_alerts_go_to_a_contact_point_without_resolved_messages_repeating_once_a_period() -> None:
    document = alert_rules([MONTHLY], BUDGETS)
    assert [(c["name"], c["receivers"][0]["disableResolveMessage"]) for c in document["contactPoints"]] == [
        ("agentslo-webhook", False), ("agentslo-webhook-spend", True)]
    [spend_route, *_] = document["policies"][0]["routes"]
    assert (spend_route["receiver"], spend_route["object_matchers"], spend_route["repeat_interval"]) == (
        "agentslo-webhook-spend", [["budget", "=~", ".+"], ["period", "=", "day"]], "24h")
