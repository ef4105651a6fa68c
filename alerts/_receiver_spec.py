"""What every receiver kind's config spec shares, and how the secrets it names are read. Pure.

An entry of `alerts.receivers` is one kind's spec (the registry is
alerts._formats): `name`, `kind`, `timeout_s`, `severities` and `match` are
common, the rest is the kind's. Secrets are never written in the file: a spec
names the environment variables holding them (checked to be names, not
values), and `problems(env)` and `receiver(env)` read them once, at start-up.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerts._receiver import Receiver

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NOT_A_VARIABLE = "must be the name of an environment variable, not its value"


def http_url(url: str) -> str:
    """`url`, checked to be http(s) with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return url


def is_variable_name(name: str) -> bool:
    """Whether `name` can name an environment variable (rather than be its value)."""
    return bool(_IDENTIFIER.match(name))


def variable_name(name: str) -> str:
    """`name`, checked to name an environment variable rather than hold a value."""
    if not is_variable_name(name):
        raise ValueError(NOT_A_VARIABLE)
    return name


class ReceiverSpecBase(BaseModel):
    """What every receiver kind's spec has: its name, its kind, its timeout and the alerts routed to it."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str
    kind: str
    timeout_s: float = Field(default=10, gt=0, le=120)
    severities: tuple[Literal["page", "ticket"], ...] = ("page", "ticket")
    match: dict[str, str] = {}

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError("must be 1-64 letters, digits, '.', '_' or '-'")
        return name

    @abstractmethod
    def variables(self) -> dict[str, str]:
        """The environment variables the receiver reads, by the path of the field naming each
        (`secret_env`, `headers_env.Authorization`)."""

    def check_value(self, path: str, value: str) -> str | None:
        """What is wrong with the value of the variable named at `path`, or None; never quotes the value."""
        return None

    @abstractmethod
    def receiver(self, env: Mapping[str, str]) -> Receiver:
        """The receiver, its secrets read from `env` (which `problems` found complete)."""

    def problems(self, env: Mapping[str, str]) -> list[tuple[str, str]]:
        """(path, message) for each variable the receiver reads that `env` lacks or holds no usable value in."""
        found = []
        for path, name in self.variables().items():
            if name not in env:
                found.append((path, f"environment variable {name} is not set"))
                continue
            problem = self.check_value(path, env[name])
            if problem is not None:
                found.append((path, f"environment variable {name} {problem}"))
        return found

    def _receiver(self, url: str, *, secret: str | None = None,
                  headers: Mapping[str, str] | None = None) -> Receiver:
        """The receiver of this spec sending to `url` with `secret` and `headers`."""
        return Receiver(name=self.name, url=url, secret=secret, headers=dict(headers or {}), timeout_s=self.timeout_s,
                        severities=frozenset(self.severities), match=dict(self.match), kind=self.kind)
