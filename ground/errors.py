"""Errors raised by AgentSLO.

    AgentSloError
     +-- ConfigError          the config file, an environment variable or a flag is invalid,
     |                        or names what cannot be used (a port in use, a data directory under a file)
     +-- StorageError         ClickHouse refused or failed a statement
     |    +-- StorageUnavailable   ClickHouse cannot be reached or is overloaded: retry later
     +-- Overloaded           ingest holds as much unwritten data as it may: retry later
     +-- RateLimited          a tenant sends spans faster than its rate limit: retry later
     +-- Unauthenticated      a request without an API key, or with none that is configured
     +-- Forbidden            a request whose API key lacks the scope it needs
     +-- NotEvaluator         this replica does not hold the evaluator lease: it may not run a cycle

Callers act differently on each: a ConfigError stops start-up with its list of
problems, StorageUnavailable turns into 503 + Retry-After at the receivers, any
other StorageError is a bug or a schema problem and is reported as is.
The retryable errors carry `retry_after_s`, the wait suggested to the client.
Unauthenticated answers 401 / UNAUTHENTICATED, Forbidden 403 / PERMISSION_DENIED,
RateLimited 429 / RESOURCE_EXHAUSTED. NotEvaluator stops a cycle before its next write
and answers 409 at `POST /api/v1/evaluate`.
"""

from __future__ import annotations

from collections.abc import Sequence


class AgentSloError(Exception):
    """Base of every error AgentSLO raises on purpose."""


class ConfigError(AgentSloError):
    """Invalid configuration; `problems` lists every one, each naming source, path and expectation."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class StorageError(AgentSloError):
    """ClickHouse rejected or failed a statement."""


class StorageUnavailable(StorageError):
    """ClickHouse cannot be reached or answered that it is overloaded; the operation may be retried."""

    retry_after_s = 5


class Overloaded(AgentSloError):
    """Ingest already holds its limit of rows waiting for storage; the client should retry later."""

    retry_after_s = 1


class RateLimited(AgentSloError):
    """A tenant's spans arrive faster than its rate limit allows; it may send again after `retry_after_s`."""

    def __init__(self, tenant: str, retry_after_s: int) -> None:
        self.tenant = tenant
        self.retry_after_s = retry_after_s
        who = f"tenant {tenant}" if tenant else "ingest"
        super().__init__(f"{who} is over its rate limit: retry after {retry_after_s} s")


class Unauthenticated(AgentSloError):
    """A request presented no API key, a malformed one, or one that no configured key matches.

    `reason` says which: "missing", "malformed" or "unknown".
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class Forbidden(AgentSloError):
    """A request's API key is known but its scope does not allow what the request asks."""


class NotEvaluator(AgentSloError):
    """This replica does not hold the evaluator lease (its role is `ingest`, another replica holds it,
    or it lost it): it may not run an evaluation cycle or write what one writes."""
