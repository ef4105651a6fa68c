"""SLO filters and spend budgets count the same events for any value, on both backends.

Each adversarial value (tests/support/values.py) names the service of its own
number of model calls, one USD each, and is also an attribute key with itself as
value: the value at position i has i + 1 calls. Values that a wrong binding
would confuse (`x\\' OR 1=1 --` and `x' OR 1=1 --`) therefore give different
counts, and every SLO and budget must find exactly its value's calls.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ground.storage import migrate, open_storage
from slo import SloStatus, SpendStatus, parse_spend_budgets, spend_budget_from_spec
from slo.engine import evaluate_spend, run_cycle
from tests.conftest import SERVER_ENV, storage_spec
from tests.slo.traces import MINUTE, SECOND, T0, chat, insert, make_slo
from tests.support.values import ADVERSARIAL_VALUES

VALUES: list[str] = [param.values[0] for param in ADVERSARIAL_VALUES]
IDS = [param.id for param in ADVERSARIAL_VALUES]
CALLS = len(VALUES) * (len(VALUES) + 1) // 2
NOW = T0 + 10 * MINUTE
# How each SLO finds a value's calls, and how many of all calls it counts for the value at position i.
MATCHERS = {
    "column eq": (lambda value: {"column": "ServiceName", "op": "eq", "value": value}, lambda i: i + 1),
    "column ne": (lambda value: {"column": "ServiceName", "op": "ne", "value": value}, lambda i: CALLS - i - 1),
    "column in": (lambda value: {"column": "ServiceName", "op": "in", "values": [value, "none"]}, lambda i: i + 1),
    "attribute eq": (lambda value: {"attribute": value, "op": "eq", "value": value}, lambda i: i + 1),
}


def calls() -> Iterator[dict]:
    for position, value in enumerate(VALUES):
        for call in range(position + 1):
            yield chat(f"t{position}", f"c{call}", "", at=-MINUTE + call * SECOND, ServiceName=value,
                       SpanAttributes={value: value}, CostUsd=1.0)


@pytest.fixture(scope="module", params=["embedded", "server"])
def counted(request: pytest.FixtureRequest, chdb_dir: Path) -> Iterator[tuple[dict[str, SloStatus], list[SpendStatus]]]:
    """Every SLO's status by name, and every budget's spend in VALUES order, on each backend."""
    server = request.getfixturevalue("clickhouse_server") if request.param == "server" else None
    database = f"values_{uuid.uuid4().hex[:12]}"
    store = open_storage(storage_spec(request.param, database, server, chdb_dir), env=SERVER_ENV)
    try:
        migrate(store)
        insert(store, calls())
        slos = [make_slo(f"{kind.replace(' ', '-')}-{i}", objective=50, window="1h",
                         sli={"kind": "availability", "over": "llm_calls", "filter": [matcher(value)]})
                for kind, (matcher, _) in MATCHERS.items() for i, value in enumerate(VALUES)]
        budgets = [spend_budget_from_spec(spec) for spec in parse_spend_budgets(
            [{"name": f"b{i}", "period": "day", "limit_usd": 100, "service": value} for i, value in enumerate(VALUES)],
            where="test")]
        statuses = {status.slo.name: status for status in run_cycle(store, slos, NOW)}
        yield statuses, list(evaluate_spend(store, budgets, NOW))
    finally:
        store.command(f"DROP DATABASE IF EXISTS {database}")
        store.close()


@pytest.mark.parametrize("kind", MATCHERS)
@pytest.mark.parametrize("position", range(len(VALUES)), ids=IDS)
def test_an_slo_filter_counts_exactly_the_calls_of_its_value(counted, position: int, kind: str) -> None:
    statuses, _ = counted
    expected = MATCHERS[kind][1](position)
    counts = statuses[f"{kind.replace(' ', '-')}-{position}"].counts
    assert (counts.good_events, counts.total_events) == (expected, expected)


def test_a_budget_of_each_service_spends_exactly_its_calls(counted) -> None:
    _, spend = counted
    assert [(status.budget.service, status.spent_usd) for status in spend] == [
        (value, float(position + 1)) for position, value in enumerate(VALUES)]
