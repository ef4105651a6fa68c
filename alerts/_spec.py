"""The `alerts:` section of the config file, and its conversion to receivers and policies.

    alerts:
      external_url: https://agentslo.example.com
      grafana_url: https://grafana.example.com   # adds a `dashboard` link to each alert
      give_up_after: 1d
      defaults: {min_events: 10, repeat_interval: 4h}
      slos:
        checkout-availability: {ticket: false, for: 2m, no_data: 30m, budget_exhausted: true}
      receivers:
        - name: oncall
          url: https://hooks.example.com/agentslo
          secret_env: ONCALL_WEBHOOK_SECRET
          headers: {X-Team: payments}
          headers_env: {Authorization: ONCALL_TOKEN}
          timeout_s: 5
          severities: [page]
          match: {service: checkout}
        - {name: payments-channel, kind: slack, url_env: SLACK_WEBHOOK_URL}
        - {name: pagerduty, kind: pagerduty, routing_key_env: PAGERDUTY_ROUTING_KEY, severities: [page]}

Per-SLO entries override only the fields they set; the rest comes from
`defaults`. A receiver's `kind` (alerts._formats; `webhook` when absent)
says which other fields it takes. Secrets are named by environment variable
and read at start-up: a webhook's `secret_env` (the signing key) and
`headers_env` (header values such as an Authorization token), a Slack
receiver's `url_env`, a PagerDuty receiver's `routing_key_env`. A webhook's
`headers` holds plain values only: a header whose name says it carries a
credential is refused there.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from pydantic import ConfigDict, Field, field_validator

from alerts._formats import ReceiverSpec
from alerts._receiver import Receiver
from alerts._receiver_spec import http_url
from alerts._retry import DEFAULT_GIVE_UP_AFTER, RetryPolicy
from alerts._rules import DEFAULT_REPEAT_INTERVAL, AlertPolicy
from ground.errors import ConfigError
from ground.spec import Spec
from slo import parse_duration


def _duration(value: object) -> object:
    if isinstance(value, timedelta):
        return value
    parsed = parse_duration(value, units=("s", "m", "h", "d"), whole=True)
    if parsed is None:
        raise ValueError(f"must be a duration like 30s, 5m, 4h or 1d, got {value!r}")
    return parsed


class _Spec(Spec):
    model_config = ConfigDict(populate_by_name=True)


class AlertingSpec(_Spec):
    """How an SLO alerts; in `alerts.slos.<name>`, only the fields set override `alerts.defaults`."""

    page: bool = True
    ticket: bool = True
    min_events: int = Field(default=10, ge=1)
    for_: timedelta = Field(default=timedelta(0), alias="for")
    repeat_interval: timedelta = DEFAULT_REPEAT_INTERVAL
    no_data: timedelta | None = None
    budget_exhausted: bool = False

    @field_validator("for_", "repeat_interval", "no_data", mode="before")
    @classmethod
    def _check_duration(cls, value: object) -> object:
        return None if value is None else _duration(value)

    def policy(self) -> AlertPolicy:
        """The domain value."""
        return AlertPolicy(page=self.page, ticket=self.ticket, min_events=self.min_events,
                           pending_for=self.for_, repeat_interval=self.repeat_interval,
                           no_data_after=self.no_data, budget_exhausted=self.budget_exhausted)


class AlertsSpec(_Spec):
    """The `alerts:` section: receivers, default and per-SLO policies, delivery settings."""

    external_url: str = "http://127.0.0.1:4318"
    grafana_url: str | None = None
    give_up_after: timedelta = DEFAULT_GIVE_UP_AFTER
    defaults: AlertingSpec = AlertingSpec()
    slos: dict[str, AlertingSpec] = {}
    receivers: tuple[ReceiverSpec, ...] = ()

    @field_validator("external_url", "grafana_url")
    @classmethod
    def _check_base_url(cls, url: str | None) -> str | None:
        return None if url is None else http_url(url)

    @field_validator("give_up_after", mode="before")
    @classmethod
    def _check_give_up(cls, value: object) -> object:
        return _duration(value)

    @field_validator("receivers")
    @classmethod
    def _check_unique(cls, receivers: tuple[ReceiverSpec, ...]) -> tuple[ReceiverSpec, ...]:
        names = [r.name for r in receivers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"receiver names must be unique, repeated: {', '.join(duplicates)}")
        return receivers

    def default_policy(self) -> AlertPolicy:
        """The policy of SLOs without an override."""
        return self.defaults.policy()

    def policies(self) -> dict[str, AlertPolicy]:
        """Each overridden SLO's policy: the defaults with the override's fields on top."""
        return {name: self.defaults.model_copy(update={field: getattr(spec, field) for field in spec.model_fields_set})
                .policy() for name, spec in self.slos.items()}

    def retry_policy(self) -> RetryPolicy:
        """How deliveries are retried."""
        return RetryPolicy(give_up_after=self.give_up_after)

    def unknown_slos(self, slo_names: set[str], *, where: str) -> list[str]:
        """Problems for overrides naming an SLO the config does not declare."""
        known = f"expected one of: {', '.join(sorted(slo_names))}" if slo_names else "the config declares no SLO"
        return [f"{where}.slos.{name}: no SLO of that name ({known})" for name in self.slos if name not in slo_names]

    def resolve_receivers(self, env: Mapping[str, str], *, where: str) -> tuple[Receiver, ...]:
        """The receivers with the secrets their specs name read from `env`; ConfigError listing every
        variable missing or unusable, by the field naming it."""
        problems = [f"{where}.receivers[{i}].{path}: {message}"
                    for i, spec in enumerate(self.receivers) for path, message in spec.problems(env)]
        if problems:
            raise ConfigError(problems)
        return tuple(spec.receiver(env) for spec in self.receivers)
