"""API keys: who may write spans, read the API or run it, each key bound to a tenant. Pure.

A key has one scope:

- `ingest`: write spans (OTLP/HTTP `POST /v1/traces`, OTLP/gRPC `Export`). Every span
  it writes is stored under the key's tenant, whatever tenant the span claims.
- `read`: the API's reads (`GET /api/v1/...`) and `/metrics`.
- `admin`: what `read` may, and `POST /api/v1/evaluate`. Admin does not imply ingest:
  an operator's key has no business in agents' exporters, and an ingest key that
  leaks from an agent reads nothing.

A request presents its key as `Authorization: Bearer <key>` or `x-api-key: <key>`
(HTTP headers, or gRPC metadata of the same names). Only SHA-256 digests of the keys
are held: a presented key is hashed once, looked up by its digest, and the digest
confirmed with `hmac.compare_digest`. Timing then tells at most how the digest of a
guess compares with stored digests, which says nothing about any key.

    keys = KeyRing([ApiKey.of("s3cr3t-ingest-key-0001", tenant="acme", scope=Scope.INGEST)])
    keys.authorize("Bearer s3cr3t-ingest-key-0001", None, Scope.INGEST).tenant   # 'acme'

A keys file holds one key a line, as `<sha256 hex of the key> <tenant> <scope>`;
`#` starts a comment (`parse_keys_file`). A key's digest:
`printf %s "$KEY" | sha256sum`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass

from ground.errors import ConfigError, Forbidden, Unauthenticated

__all__ = [
    "MIN_KEY_LENGTH",
    "OPEN",
    "REFUSAL_REASONS",
    "ApiKey",
    "KeyRing",
    "Principal",
    "Scope",
    "check_key",
    "check_tenant",
    "key_digest",
    "parse_keys_file",
]

# 16 characters of a random key are ~96 bits and more: out of reach of guessing over the network.
MIN_KEY_LENGTH = 16
# Printable ASCII without spaces: what an HTTP header value and gRPC metadata carry unchanged.
_KEY = re.compile(r"^[\x21-\x7e]+$")
# Tenants name the Tenant column's values and a metric label: short, plain names.
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,63}$")
_DIGEST = re.compile(r"^[0-9a-fA-F]{64}$")


class Scope(enum.Enum):
    """What a key may do."""

    INGEST = "ingest"
    READ = "read"
    ADMIN = "admin"

    def grants(self, needed: Scope) -> bool:
        """Whether a key of this scope may do what needs `needed` (admin may read)."""
        return self is needed or (self is Scope.ADMIN and needed is Scope.READ)


def key_digest(key: str) -> bytes:
    """The SHA-256 digest of a key: what is stored and compared."""
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


@dataclass(frozen=True)
class ApiKey:
    """One key, known by its digest, with its tenant and scope."""

    digest: bytes
    tenant: str
    scope: Scope

    @classmethod
    def of(cls, key: str, *, tenant: str, scope: Scope) -> ApiKey:
        """The entry of a key given in clear (from the environment)."""
        return cls(key_digest(key), tenant, scope)


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: the key's tenant and scope, or None for both when keys are off."""

    tenant: str | None
    scope: Scope | None


OPEN = Principal(None, None)

# Why a request was refused: no key, an Authorization that is no Bearer token, no such key
# (Unauthenticated.reason), and a key of another scope (Forbidden).
MISSING, MALFORMED, UNKNOWN, SCOPE = "missing", "malformed", "unknown", "scope"
REFUSAL_REASONS = (MISSING, MALFORMED, UNKNOWN, SCOPE)


class KeyRing:
    """The configured keys; None configures none, and then every request is let in (OPEN).

    `on_refused` is told the reason of each refusal (one of REFUSAL_REASONS), for the
    service's failure count.
    """

    def __init__(self, keys: Iterable[ApiKey] | None, *,
                 on_refused: Callable[[str], None] = lambda reason: None) -> None:
        self.enabled = keys is not None
        self._by_digest = {key.digest: key for key in keys or ()}
        self._on_refused = on_refused

    def __len__(self) -> int:
        return len(self._by_digest)

    def scopes(self) -> dict[Scope, int]:
        """How many keys of each scope there are."""
        return {scope: sum(key.scope is scope for key in self._by_digest.values()) for scope in Scope}

    def authorize(self, authorization: str | None, api_key: str | None, needed: Scope) -> Principal:
        """Who a request with these header values acts for, if its key grants `needed`.

        Raises Unauthenticated (no key, a malformed Authorization, no such key) or
        Forbidden (a key of another scope).
        """
        if not self.enabled:
            return OPEN
        try:
            key = self._identify(_presented(authorization, api_key))
        except Unauthenticated as exc:
            self._on_refused(exc.reason)
            raise
        if not key.scope.grants(needed):
            self._on_refused(SCOPE)
            raise Forbidden(f"this API key's scope is {key.scope.value}; this needs a key of scope {needed.value}")
        return Principal(key.tenant, key.scope)

    def _identify(self, presented: str) -> ApiKey:
        digest = key_digest(presented)
        key = self._by_digest.get(digest)
        if key is None or not hmac.compare_digest(key.digest, digest):
            raise Unauthenticated(UNKNOWN, "unknown API key")
        return key


def _presented(authorization: str | None, api_key: str | None) -> str:
    """The key a request presents: a Bearer token first, else x-api-key."""
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    if api_key is not None and api_key.strip():
        return api_key.strip()
    if authorization is not None:
        raise Unauthenticated(MALFORMED, "malformed Authorization header: expected Bearer <key>")
    raise Unauthenticated(MISSING, "no API key: send Authorization: Bearer <key> or x-api-key: <key>")


def check_key(key: str) -> str | None:
    """Why `key` cannot be a key (too short, spaces, not ASCII), or None."""
    if len(key) < MIN_KEY_LENGTH or not _KEY.match(key):
        return (f"must be at least {MIN_KEY_LENGTH} printable ASCII characters without spaces, got "
                f"{len(key)} characters (make one with: openssl rand -hex 32)")
    return None


def check_tenant(tenant: str) -> str | None:
    """Why `tenant` cannot be a tenant name, or None."""
    if not _TENANT.match(tenant):
        return "must be 1-64 letters, digits, '.', '_', '@', ':' or '-', starting with a letter or digit"
    return None


def parse_keys_file(text: str, *, where: str,
                    given: MutableMapping[bytes, str] | None = None) -> tuple[ApiKey, ...]:
    """The keys of a keys file: `<sha256 hex> <tenant> <scope>` a line, `#` comments, blank lines.

    `where` names the file in each problem (`keys.txt:3: ...`); `given` maps the digests of
    keys configured elsewhere to where (and gains this file's). Raises ConfigError listing
    every bad line, and every key given twice.
    """
    keys: list[ApiKey] = []
    problems: list[str] = []
    given = {} if given is None else given
    scopes = ", ".join(scope.value for scope in Scope)
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != 3:
            problems.append(f"{where}:{number}: expected <sha256 hex of the key> <tenant> <scope>, "
                            f"got {len(fields)} fields")
            continue
        digest, tenant, scope = fields
        line_problems = []
        if not _DIGEST.match(digest):
            line_problems.append(f"{where}:{number}: the first field must be the key's SHA-256 digest "
                                 "(64 hex digits), never the key itself")
        if (bad := check_tenant(tenant)) is not None:
            line_problems.append(f"{where}:{number}: tenant {tenant!r} {bad}")
        if scope not in {s.value for s in Scope}:
            line_problems.append(f"{where}:{number}: scope {scope!r} must be one of: {scopes}")
        if line_problems:
            problems.extend(line_problems)
            continue
        raw = bytes.fromhex(digest)
        if raw in given:
            problems.append(f"{where}:{number}: the same key as {given[raw]}")
            continue
        given[raw] = f"line {number}"
        keys.append(ApiKey(raw, tenant, Scope(scope)))
    if problems:
        raise ConfigError(problems)
    return tuple(keys)
