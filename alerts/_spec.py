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

Per-SLO entries override only the fields they set; the rest comes from
`defaults`. Secrets are named by environment variable and read at start-up:
`secret_env` for the signing key, `headers_env` for header values such as an
Authorization token. `headers` holds plain values only: a header whose name
says it carries a credential is refused there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerts._receiver import Receiver
from alerts._retry import DEFAULT_GIVE_UP_AFTER, RetryPolicy
from alerts._rules import DEFAULT_REPEAT_INTERVAL, AlertPolicy
from ground.errors import ConfigError
from slo import parse_duration

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# Header names that carry credentials, matched as parts of the name: their values come
# from the environment (headers_env), never from the file. Authorization and
# Proxy-Authorization (RFC 9110), Cookie, and the usual API key, token and session spellings.
_CREDENTIAL_HEADER_PARTS = ("auth", "cookie", "token", "secret", "key", "passw", "credential", "session",
                            "signature")


def _duration(value: object) -> object:
    if isinstance(value, timedelta):
        return value
    parsed = parse_duration(value, units=("s", "m", "h", "d"), whole=True)
    if parsed is None:
        raise ValueError(f"must be a duration like 30s, 5m, 4h or 1d, got {value!r}")
    return parsed


def _http_url(url: str) -> str:
    """`url`, checked to be http(s) with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return url


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


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


class ReceiverSpec(_Spec):
    """A webhook receiver and the alerts routed to it."""

    name: str
    url: str
    secret_env: str | None = None
    headers: dict[str, str] = {}
    headers_env: dict[str, str] = {}
    timeout_s: float = Field(default=10, gt=0, le=120)
    severities: tuple[Literal["page", "ticket"], ...] = ("page", "ticket")
    match: dict[str, str] = {}

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError("must be 1-64 letters, digits, '.', '_' or '-'")
        return name

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        if urlsplit(_http_url(url)).password:
            raise ValueError("must not contain a password; put a token in headers_env or sign with secret_env")
        return url

    @field_validator("secret_env")
    @classmethod
    def _check_env_name(cls, name: str | None) -> str | None:
        if name is not None and not _IDENTIFIER.match(name):
            raise ValueError("must be the name of an environment variable, not its value")
        return name

    @field_validator("headers")
    @classmethod
    def _check_plain_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        credentials = [name for name in headers if any(part in name.lower() for part in _CREDENTIAL_HEADER_PARTS)]
        if credentials:
            raise ValueError(f"{', '.join(credentials)} may carry a credential; "
                             "name the environment variable that holds it in headers_env")
        return headers

    @field_validator("headers_env")
    @classmethod
    def _check_header_variables(cls, variables: dict[str, str]) -> dict[str, str]:
        values = [header for header, name in variables.items() if not _IDENTIFIER.match(name)]
        if values:
            raise ValueError(f"{', '.join(values)}: must be the name of an environment variable, not its value")
        return variables

    @model_validator(mode="after")
    def _check_headers_set_once(self) -> ReceiverSpec:
        plain = {name.lower() for name in self.headers}
        twice = [name for name in self.headers_env if name.lower() in plain]
        if twice:
            raise ValueError(f"headers {', '.join(twice)} set in both headers and headers_env")
        return self


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
        return None if url is None else _http_url(url)

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
        """The receivers with their secrets and secret headers read from `env`; ConfigError listing
        every variable missing."""
        problems: list[str] = []
        for i, spec in enumerate(self.receivers):
            if spec.secret_env is not None and spec.secret_env not in env:
                problems.append(f"{where}.receivers[{i}].secret_env: environment variable {spec.secret_env} is not set")
            problems.extend(f"{where}.receivers[{i}].headers_env.{header}: environment variable {name} is not set"
                            for header, name in spec.headers_env.items() if name not in env)
        if problems:
            raise ConfigError(problems)
        return tuple(
            Receiver(name=spec.name, url=spec.url,
                     secret=None if spec.secret_env is None else env[spec.secret_env],
                     headers={**spec.headers, **{header: env[name] for header, name in spec.headers_env.items()}},
                     timeout_s=spec.timeout_s, severities=frozenset(spec.severities), match=dict(spec.match))
            for spec in self.receivers
        )
