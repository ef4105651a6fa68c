"""Specification of the `alerts:` config section: receivers, per-SLO overrides on top of the defaults."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from alerts import AlertPolicy, AlertsSpec, Receiver, RetryPolicy
from ground.errors import ConfigError

BASE = {
    "external_url": "https://agentslo.example.com",
    "defaults": {"min_events": 20, "repeat_interval": "2h"},
    "slos": {"checkout": {"ticket": False, "for": "2m", "no_data": "30m"}},
    "receivers": [{"name": "oncall", "url": "https://hooks.example.com/a", "secret_env": "HOOK_SECRET",
                   "headers": {"X-Team": "payments"}, "timeout_s": 5, "severities": ["page"],
                   "match": {"service": "checkout"}}],
}


def test_an_override_sets_only_its_own_fields() -> None:
    spec = AlertsSpec.model_validate(BASE)
    assert spec.default_policy() == AlertPolicy(min_events=20, repeat_interval=timedelta(hours=2))
    assert spec.policies() == {"checkout": AlertPolicy(ticket=False, min_events=20, pending_for=timedelta(minutes=2),
                                                       repeat_interval=timedelta(hours=2),
                                                       no_data_after=timedelta(minutes=30))}


def test_receivers_resolve_their_secret_from_the_environment() -> None:
    receivers = AlertsSpec.model_validate(BASE).resolve_receivers({"HOOK_SECRET": "xyz"}, where="agentslo.yaml: alerts")
    assert receivers == (Receiver("oncall", "https://hooks.example.com/a", secret="xyz", headers={"X-Team": "payments"},
                                  timeout_s=5, severities=frozenset({"page"}), match={"service": "checkout"}),)
    assert "xyz" not in repr(receivers)


def test_a_missing_secret_names_the_field_and_the_variable() -> None:
    with pytest.raises(ConfigError) as error:
        AlertsSpec.model_validate(BASE).resolve_receivers({}, where="agentslo.yaml: alerts")
    assert error.value.problems == [
        "agentslo.yaml: alerts.receivers[0].secret_env: environment variable HOOK_SECRET is not set"]


WITH_TOKEN = {**BASE, "receivers": [{**BASE["receivers"][0], "headers_env": {"Authorization": "HOOK_TOKEN"}}]}


def test_header_values_named_in_headers_env_come_from_the_environment() -> None:
    receivers = AlertsSpec.model_validate(WITH_TOKEN).resolve_receivers(
        {"HOOK_SECRET": "xyz", "HOOK_TOKEN": "Bearer t0k3n"}, where="agentslo.yaml: alerts")
    assert receivers[0].headers == {"X-Team": "payments", "Authorization": "Bearer t0k3n"}
    assert "t0k3n" not in repr(receivers)


def test_a_missing_header_variable_names_the_header_and_the_variable() -> None:
    with pytest.raises(ConfigError) as error:
        AlertsSpec.model_validate(WITH_TOKEN).resolve_receivers({"HOOK_SECRET": "xyz"}, where="agentslo.yaml: alerts")
    assert error.value.problems == [
        "agentslo.yaml: alerts.receivers[0].headers_env.Authorization: environment variable HOOK_TOKEN is not set"]


def test_an_override_of_an_undeclared_slo_is_reported() -> None:
    problems = AlertsSpec.model_validate(BASE).unknown_slos({"search"}, where="agentslo.yaml: alerts")
    assert problems == ["agentslo.yaml: alerts.slos.checkout: no SLO of that name (expected one of: search)"]


def test_the_give_up_age_feeds_the_retry_policy() -> None:
    spec = AlertsSpec.model_validate({**BASE, "give_up_after": "6h"})
    assert spec.retry_policy() == RetryPolicy(give_up_after=timedelta(hours=6))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"give_up_after": "soon"}, "must be a duration like 30s, 5m, 4h or 1d, got 'soon'",
                     id="durations are written with a unit"),
        pytest.param({"receivers": [{"name": "a", "url": "ftp://x"}]}, "must be an http:// or https:// URL with a host",
                     id="receivers are http URLs"),
        pytest.param({"receivers": [{"name": "a", "url": "http://x", "secret_env": "s3cr3t value"}]},
                     "must be the name of an environment variable, not its value", id="secrets are named, not written"),
        pytest.param({"receivers": [{"name": "a", "url": "http://x"}, {"name": "a", "url": "http://y"}]},
                     "receiver names must be unique, repeated: a", id="receiver names are unique"),
        pytest.param({"receivers": [{"name": "a", "url": "http://x", "severities": ["urgent"]}]},
                     "Input should be 'page' or 'ticket'", id="severities are page or ticket"),
        pytest.param({"receivers": [{"name": "a", "url": "http://x", "headers": {"X-Api-Key": "k", "Cookie": "c"}}]},
                     "X-Api-Key, Cookie may carry a credential; name the environment variable that holds it in "
                     "headers_env", id="plain headers carry no credentials"),
        pytest.param({"receivers": [{"name": "a", "url": "http://x", "headers_env": {"Authorization": "Bearer x"}}]},
                     "Authorization: must be the name of an environment variable, not its value",
                     id="headers_env names variables, not values"),
        pytest.param({"receivers": [{"name": "a", "url": "http://x", "headers": {"X-Team": "a"},
                                     "headers_env": {"x-team": "TEAM"}}]},
                     "headers x-team set in both headers and headers_env", id="a header is set in one place"),
    ],
)
def test_invalid_specs(change: dict, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        AlertsSpec.model_validate({**BASE, **change})
    assert message in str(error.value)
