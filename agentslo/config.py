"""The configuration: one YAML file validated into typed models.

Each setting that `agentslo serve` takes as a flag can also come from an
`AGENTSLO_*` environment variable; the order is flag, then environment, then
file, then default. Secrets never sit in the file, a flag or an AGENTSLO_*
variable: the file names the environment variable that holds each one
(`storage.password_env`, `alerts.receivers[].secret_env`, `auth.keys[].key_env`),
or a file of their digests (`auth.keys_file`).

Every problem is reported, each naming where the value came from, the path to
the field and what was expected::

    agentslo.yaml: server.http_port: must be at most 65535
    AGENTSLO_GRPC_PORT: server.grpc_port: must be a valid integer
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ConfigDict, Field, ValidationError, field_validator

from agentslo.http_server import HttpLimits
from alerts import AlertsSpec, Receiver
from collector import (
    MAX_BATCH_ROWS,
    MAX_PENDING_ROWS,
    BodyLimits,
    DimensionAliases,
    MappingPolicy,
    ModelPrice,
    RateLimit,
    parse_price_entries,
)
from ground.auth import ApiKey, Scope, check_key, check_tenant, key_digest, parse_keys_file
from ground.errors import ConfigError
from ground.spec import Spec, format_path, problems_of
from ground.storage import StorageSpec, server_password
from slo import SloSpec, SpendBudgetSpec, parse_slo_specs, parse_spend_budgets

__all__ = [
    "OVERRIDABLE",
    "ApiKeySpec",
    "AttributesSpec",
    "AuthSpec",
    "ClickHouseHttpSpec",
    "Config",
    "EvaluationSpec",
    "IngestSpec",
    "PricingSpec",
    "RateLimitSpec",
    "RetentionSpec",
    "ServerSpec",
    "StorageSpec",
    "describe",
    "Secrets",
    "load_config",
    "resolve_secrets",
]

ENV_PREFIX = "AGENTSLO_"

# Settings that a flag or an environment variable may set: override name -> path
# in the file. The flag is `--name-with-dashes`, the variable AGENTSLO_NAME.
OVERRIDABLE: dict[str, tuple[str, ...]] = {
    "host": ("server", "host"),
    "http_port": ("server", "http_port"),
    "grpc_port": ("server", "grpc_port"),
    "data": ("storage", "data_dir"),
    "clickhouse_url": ("storage", "clickhouse_url"),
    "insecure_no_auth": ("server", "insecure_no_auth"),
    "role": ("server", "role"),
    "replica_name": ("server", "replica_name"),
}

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REPLICA_NAME = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

# The deepest a config file may nest; the deepest setting is 5 levels down
# (slos[0].sli.filter[0].values). Deeper input would exhaust Python's recursion.
_MAX_DEPTH = 32


_KIB = 1024
_MIB = 1024 * _KIB


class ServerSpec(Spec):
    """Where the service listens, the limits on HTTP clients, and how long stopping may take.

    Loopback by default: exposing it is a decision.
    """

    host: str = "127.0.0.1"
    # 0 asks the OS for a free port (used by tests and side-by-side instances).
    http_port: int = Field(default=4318, ge=0, le=65535)
    grpc_port: int = Field(default=4317, ge=0, le=65535)
    # An HTTP request head (request line and headers) larger or with more headers is answered 431.
    # OTLP exporters send a few hundred bytes; nginx allows 4 x 8 KiB, Apache 100 headers.
    max_header_bytes: int = Field(default=64 * _KIB, ge=_KIB, le=_MIB)
    max_headers: int = Field(default=100, ge=10, le=1000)
    # A head must be in within this long of its first byte, and a body may fall silent this
    # long; then the connection is cut (408). Idle kept-alive connections close after 5 s.
    # OTLP/gRPC: a call's message must be in within this long (DEADLINE_EXCEEDED), and a
    # connection without an HTTP/2 handshake or without a call for this long is closed.
    read_timeout_s: float = Field(default=15, gt=0, le=600)
    # After SIGTERM, requests in flight get this long to finish; the ones still open are then
    # cut, what was acknowledged is stored, and the process exits 0. Below docker-compose's
    # 30 s stop_grace_period, which leaves room for storing what ingest holds.
    shutdown_timeout_s: float = Field(default=20, gt=0, le=600)
    # Without API keys the service serves anyone who reaches it: loopback only, unless this says
    # the exposure is meant (a network that authenticates in front of it, a throwaway stack).
    insecure_no_auth: bool = False
    # What this replica does (README, Several replicas): `all` receives spans and competes for the
    # evaluator lease, `ingest` receives spans only, `evaluator` competes for the lease only.
    role: Literal["all", "ingest", "evaluator"] = "all"
    # This replica's name in the evaluator lease, the logs, /metrics and /readyz; unset: host:http_port.
    replica_name: str | None = None

    @field_validator("replica_name")
    @classmethod
    def _check_replica_name(cls, name: str | None) -> str | None:
        if name is not None and not _REPLICA_NAME.match(name):
            raise ValueError("must be 1-64 letters, digits, '.', '_', ':' or '-'")
        return name

    @property
    def replica(self) -> str:
        """This replica's name: `replica_name`, else the host's name and the HTTP port."""
        return self.replica_name or f"{socket.gethostname()}:{self.http_port}"

    @property
    def ingests(self) -> bool:
        """Whether this replica receives spans (roles `all` and `ingest`)."""
        return self.role != "evaluator"

    @property
    def evaluates(self) -> bool:
        """Whether this replica competes for the evaluator lease (roles `all` and `evaluator`)."""
        return self.role != "ingest"

    @property
    def on_loopback(self) -> bool:
        """Whether `host` is this machine's loopback alone (a name other than localhost may resolve
        anywhere, so it does not count)."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False

    def http_limits(self) -> HttpLimits:
        """The domain value the HTTP server uses."""
        return HttpLimits(max_header_bytes=self.max_header_bytes, max_headers=self.max_headers,
                          read_timeout_s=self.read_timeout_s)


class RetentionSpec(Spec):
    """How long raw spans are kept; older day-partitions are dropped whole."""

    traces_days: int = Field(default=30, ge=1, le=3650)


class RateLimitSpec(Spec):
    """Spans per second each tenant may send: the API key's tenant, or one bucket shared by all without keys."""

    spans_per_s: float = Field(gt=0)
    # Spans a tenant may send at once after a pause; unset: one second's worth.
    burst_spans: int | None = Field(default=None, ge=1)

    def limit(self) -> RateLimit:
        """The domain value the limiter uses."""
        return RateLimit(self.spans_per_s, self.burst_spans or math.ceil(self.spans_per_s))


class IngestSpec(Spec):
    """Limits and content policy of the OTLP receivers."""

    # OTLP/HTTP body as sent, and after gzip; gRPC messages are bound by the latter.
    max_body_bytes: int = Field(default=BodyLimits().max_body_bytes, ge=1024)
    max_decompressed_bytes: int = Field(default=BodyLimits().max_decompressed_bytes, ge=1024)
    # OTLP/HTTP bodies being received or stored at once; beyond, 503 + Retry-After before the body
    # is read. With max_body_bytes this bounds the memory bodies take: 16 x 16 MiB.
    max_concurrent_bodies: int = Field(default=16, ge=1, le=10_000)
    # OTLP/gRPC Export calls being received or stored at once; beyond, UNAVAILABLE + RetryInfo before
    # the message is read. With max_decompressed_bytes, a bound on the memory messages take.
    max_concurrent_grpc_calls: int = Field(default=16, ge=1, le=10_000)
    # Prompt and completion texts are dropped unless asked for: they are large and often personal.
    capture_content: bool = False
    # Longer attribute values, span names and event names are truncated, not refused.
    max_attribute_length: int = Field(default=MappingPolicy().max_attribute_length, ge=16)
    # Group commit: most spans per insert, and most spans waiting before 503s start.
    max_batch_spans: int = Field(default=MAX_BATCH_ROWS, ge=1)
    max_pending_spans: int = Field(default=MAX_PENDING_ROWS, ge=1)
    # Processes that decode and map spans; unset = one per core but one, at least 2; 0 = in-process.
    workers: int | None = Field(default=None, ge=0, le=64)
    # A token bucket per tenant (collector._rate_limit); unset: no limit.
    rate_limit: RateLimitSpec | None = None

    def resolved_workers(self) -> int:
        """The number of mapping processes to start.

        At least two, so that two requests map at once: against mapping in the
        serving process (`workers: 0`) that takes more spans a second on two cores,
        for more memory (bench/README.md, Compiled mapping, has the figures).
        """
        if self.workers is not None:
            return self.workers
        return max((os.cpu_count() or 2) - 1, 2)


_DEFAULT_DIMENSIONS = DimensionAliases()


class AttributesSpec(Spec):
    """Attribute names feeding the user, tenant, agent, task type and feature columns, in order."""

    user: tuple[str, ...] = _DEFAULT_DIMENSIONS.user
    tenant: tuple[str, ...] = _DEFAULT_DIMENSIONS.tenant
    agent: tuple[str, ...] = _DEFAULT_DIMENSIONS.agent
    task_type: tuple[str, ...] = _DEFAULT_DIMENSIONS.task_type
    feature: tuple[str, ...] = _DEFAULT_DIMENSIONS.feature

    def aliases(self) -> DimensionAliases:
        """The domain value the mapper uses."""
        return DimensionAliases(self.user, self.tenant, self.agent, self.task_type, self.feature)


class PricingSpec(Spec):
    """Price overrides and models the shipped table lacks (USD per million tokens)."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    models: tuple[ModelPrice, ...] = ()


class EvaluationSpec(Spec):
    """How often the scheduler derives tasks and evaluates every SLO and budget."""

    interval_s: float = Field(default=60, ge=1, le=3600)
    # Children of a task exported up to this long after the task ended still count.
    grace_s: float = Field(default=120, ge=0, le=3600)
    # Spans arriving up to this long after they ended (an exporter's backlog replayed) still
    # count in every SLI; later ones are stored but counted in none. From an hour to 30 days.
    lateness_horizon_s: float = Field(default=86_400, ge=3600, le=30 * 86_400)


class ApiKeySpec(Spec):
    """One API key, held by the environment variable `key_env`, with its tenant and scope."""

    key_env: str
    tenant: str
    scope: Literal["ingest", "read", "admin"]

    @field_validator("key_env")
    @classmethod
    def _check_env_name(cls, name: str) -> str:
        if not _IDENTIFIER.match(name):
            raise ValueError("must be the name of an environment variable, not its value")
        return name

    @field_validator("tenant")
    @classmethod
    def _check_tenant(cls, tenant: str) -> str:
        if (problem := check_tenant(tenant)) is not None:
            raise ValueError(problem)
        return tenant


class AuthSpec(Spec):
    """API keys (ground.auth): from the environment variables `keys` names, and from `keys_file`.

    With neither, the service runs open (on loopback only, unless server.insecure_no_auth).
    With either, every request but the health probes and the API description needs a key,
    even when the file holds none yet.
    """

    keys: tuple[ApiKeySpec, ...] = ()
    # One key a line as `<sha256 hex of the key> <tenant> <scope>`: digests, never keys.
    keys_file: Path | None = None

    @property
    def configured(self) -> bool:
        """Whether keys are required."""
        return bool(self.keys) or self.keys_file is not None

    def resolve(self, env: Mapping[str, str], *, where: str = "auth") -> tuple[ApiKey, ...] | None:
        """The keys, read from `env` and the keys file; None when none are configured.

        Raises ConfigError listing every variable missing, key too weak, bad line and key given twice.
        """
        if not self.configured:
            return None
        problems: list[str] = []
        keys: list[ApiKey] = []
        given: dict[bytes, str] = {}  # a key's digest -> where it was given first
        for index, spec in enumerate(self.keys):
            at = f"{where}.keys[{index}]"
            value = env.get(spec.key_env)
            if value is None:
                problems.append(f"{at}.key_env: environment variable {spec.key_env} is not set")
            elif (weak := check_key(value)) is not None:
                problems.append(f"{at}.key_env: the key in {spec.key_env} {weak}")
            elif key_digest(value) in given:
                problems.append(f"{at}.key_env: the same key as {given[key_digest(value)]}")
            else:
                given[key_digest(value)] = at
                keys.append(ApiKey.of(value, tenant=spec.tenant, scope=Scope(spec.scope)))
        if self.keys_file is not None:
            try:
                text = self.keys_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                problems.append(f"{where}.keys_file: cannot read {self.keys_file}: {reason}")
            else:
                try:
                    keys.extend(parse_keys_file(text, where=str(self.keys_file), given=given))
                except ConfigError as exc:
                    problems.extend(exc.problems)
        if problems:
            raise ConfigError(problems)
        return tuple(keys)


_ROUTE = re.compile(r"^(/[A-Za-z0-9_-]+)+$")
# Paths the API already answers under.
_TAKEN_PATHS = ("/api", "/v1", "/assets", "/docs", "/metrics", "/healthz", "/readyz", "/openapi.json", "/alerts",
                "/budgets", "/evaluation", "/slos", "/spend", "/tasks", "/traces")


class ClickHouseHttpSpec(Spec):
    """A read-only ClickHouse HTTP interface over the embedded store, under `path` on the API port, for
    Grafana's ClickHouse plugin (protocol http). Off unless enabled; loopback clients only unless `remote`."""

    enabled: bool = False
    path: str = "/clickhouse"
    # Answer clients beyond loopback too (the service's host must reach them: server.host, and keys).
    remote: bool = False
    # Bounds on each statement; a request may lower them, not raise them.
    max_execution_time_s: int = Field(default=30, ge=1, le=3600)
    max_result_rows: int = Field(default=1_000_000, ge=1)
    max_result_bytes: int = Field(default=64 * _MIB, ge=_KIB)
    # Memory one statement may take (the engine's max_memory_usage); the service runs in the same process.
    max_memory_bytes: int = Field(default=1024 * _MIB, ge=16 * _MIB)
    max_query_bytes: int = Field(default=256 * _KIB, ge=_KIB, le=16 * _MIB)
    # Statements running at once; beyond, 503 (TOO_MANY_SIMULTANEOUS_QUERIES). The service's own work
    # shares the same cores.
    max_concurrent_queries: int = Field(default=4, ge=1, le=64)

    @field_validator("path")
    @classmethod
    def _check_path(cls, path: str) -> str:
        if not _ROUTE.match(path):
            raise ValueError("must be a path such as /clickhouse: '/' and letters, digits, '_' or '-'")
        if any(path == taken or path.startswith(taken + "/") for taken in _TAKEN_PATHS):
            raise ValueError(f"{path} is taken by the API; choose another, such as /clickhouse")
        return path


class Config(Spec):
    """The whole configuration file, version 1."""

    version: Literal[1] = 1
    server: ServerSpec = ServerSpec()
    storage: StorageSpec = StorageSpec()
    retention: RetentionSpec = RetentionSpec()
    ingest: IngestSpec = IngestSpec()
    attributes: AttributesSpec = AttributesSpec()
    pricing: PricingSpec = PricingSpec()
    slos: tuple[SloSpec, ...] = ()
    budgets: tuple[SpendBudgetSpec, ...] = ()
    evaluation: EvaluationSpec = EvaluationSpec()
    alerts: AlertsSpec = AlertsSpec()
    auth: AuthSpec = AuthSpec()
    clickhouse_http: ClickHouseHttpSpec = ClickHouseHttpSpec()

    def clickhouse_http_problem(self) -> str | None:
        """Why the ClickHouse interface cannot be served as configured, or None: it reads the embedded store."""
        if self.clickhouse_http.enabled and self.storage.clickhouse_url:
            return ("clickhouse_http.enabled: the ClickHouse interface serves the embedded store only; with "
                    "storage.clickhouse_url, point Grafana's ClickHouse datasource at that server instead")
        return None

    def exposure_problem(self) -> str | None:
        """Why serving as configured would let anyone on the network in, or None.

        Without keys the service is open, which loopback alone keeps to this machine;
        any other address needs keys, or insecure_no_auth to say the exposure is meant.
        """
        host = self.server.host
        if self.auth.configured or self.server.insecure_no_auth or self.server.on_loopback:
            return None
        return (f"listening on {host or 'every interface'}, beyond loopback, with no API keys: configure "
                "auth.keys or auth.keys_file, change --host (server.host) to a loopback address, or pass "
                "--insecure-no-auth (server.insecure_no_auth) to serve without authentication")


def describe(config: Config) -> str:
    """What a config sets up, in one line: `storage: embedded, 2 SLOs, 1 spend budget, 1 receiver`."""
    storage = "server" if config.storage.clickhouse_url else "embedded"
    counts = [_count(len(config.slos), "SLO"), _count(len(config.budgets), "spend budget"),
              _count(len(config.alerts.receivers), "receiver")]
    return f"storage: {storage}, " + ", ".join(counts)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


@dataclass(frozen=True)
class Secrets:
    """What the config names by environment variable, read once from the environment: the ClickHouse
    server's password, the receivers with their signing keys, URLs, tokens and headers, the API keys."""

    clickhouse_password: str | None
    receivers: tuple[Receiver, ...]
    keys: tuple[ApiKey, ...] | None


def resolve_secrets(config: Config, env: Mapping[str, str], *, where: str = "config") -> Secrets:
    """Every secret the config names, from `env`; ConfigError listing each variable missing or unusable,
    by the field naming it (`agentslo.yaml: alerts.receivers[0].secret_env: environment variable
    ONCALL_SECRET is not set`). `serve` and `check` both run it."""
    problems: list[str] = []
    password: str | None = None
    receivers: tuple[Receiver, ...] = ()
    keys: tuple[ApiKey, ...] | None = None
    try:
        password = server_password(config.storage, env) if config.storage.clickhouse_url else None
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        receivers = config.alerts.resolve_receivers(env, where="alerts")
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        keys = config.auth.resolve(env)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if problems:
        raise ConfigError([f"{where}: {problem}" for problem in problems])
    return Secrets(password, receivers, keys)


def load_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Config:
    """Read `path` (or $AGENTSLO_CONFIG, or nothing), apply environment and flags, validate.

    Raises ConfigError listing every problem found.
    """
    env = os.environ if env is None else env
    if path is None and env.get(ENV_PREFIX + "CONFIG"):
        path = Path(env[ENV_PREFIX + "CONFIG"])
    source = path.name if path is not None else "config"
    data = _read_yaml(path) if path is not None else {}
    origins: dict[tuple[str, ...], str] = {}
    for name, field_path in OVERRIDABLE.items():
        var = ENV_PREFIX + name.upper()
        if env.get(var):
            _set_path(data, field_path, env[var])
            origins[field_path] = var
    for name, value in (flags or {}).items():
        if value is not None:
            _set_path(data, OVERRIDABLE[name], value)
            origins[OVERRIDABLE[name]] = "--" + name.replace("_", "-")
    problems: list[str] = []
    # Price entries are validated by the pricing core, the same way as the shipped table.
    pricing = data.get("pricing")
    if isinstance(pricing, dict) and "models" in pricing:
        try:
            data["pricing"] = {**pricing, "models": parse_price_entries(pricing["models"], where=f"{source}: pricing.models")}
        except ConfigError as exc:
            problems.extend(exc.problems)
            data["pricing"] = {**pricing, "models": ()}
    # SLOs and spend budgets are validated by the SLO package, which names each one in its messages.
    for section, parse in (("slos", parse_slo_specs), ("budgets", parse_spend_budgets)):
        if section in data:
            try:
                data[section] = parse(data[section], where=f"{source}: {section}")
            except ConfigError as exc:
                problems.extend(exc.problems)
                data[section] = ()
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(line for err in exc.errors() for line in _describe(err, source, origins))
    else:
        problems.extend(config.alerts.unknown_slos({slo.name for slo in config.slos}, where=f"{source}: alerts"))
        if (problem := config.clickhouse_http_problem()) is not None:
            problems.append(f"{source}: {problem}")
    if problems:
        raise ConfigError(problems)
    return config


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: is not UTF-8 text"]) from None
    too_deep = ConfigError([f"{path.name}: nested more than {_MAX_DEPTH} levels deep"])
    try:
        data = yaml.safe_load(text)
    except RecursionError:  # the YAML parser recurses once per level
        raise too_deep from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path.name}:{mark.line + 1}:{mark.column + 1}" if mark else path.name
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{where}: invalid YAML: {problem}"]) from None
    if data is None:
        return {}
    if not _nests_within(data, _MAX_DEPTH):
        raise too_deep
    if not isinstance(data, dict):
        raise ConfigError([f"{path.name}: must be a mapping of sections (server, storage, ...), got {type(data).__name__}"])
    return data


def _nests_within(node: Any, levels: int) -> bool:
    """Whether `node` nests at most `levels` mappings or lists deep.

    YAML aliases may share a node many times, or make it contain itself (which nests
    without end): a node found to fit in some levels is looked at again only with more,
    so this takes at most `levels` visits per node and recurses at most `levels` deep.
    """
    fits: dict[int, int] = {}  # id of a node -> the fewest levels it was found to fit in

    def within(node: Any, levels: int) -> bool:
        if not isinstance(node, (dict, list)):
            return True
        if levels == 0:
            return False
        if fits.get(id(node), levels + 1) <= levels:
            return True
        children = node.values() if isinstance(node, dict) else node
        if not all(within(child, levels - 1) for child in children):
            return False
        fits[id(node)] = levels
        return True

    return within(node, levels)


def _set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value


def _describe(err: Any, source: str, origins: Mapping[tuple[str, ...], str]) -> list[str]:
    """A pydantic error as problem lines, each naming where the value came from (the file, a flag or
    a variable), the path and the message (ground.spec.problems_of)."""
    return [f"{origins.get(tuple(str(p) for p in loc), source)}: {format_path(loc)}: {message}"
            for loc, message in problems_of(err, Config)]
