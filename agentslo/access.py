"""Who may call the HTTP API: the key a route needs, and the guard on routes that change state.

Open to all, for probes and tools: /healthz, /readyz, /docs and /openapi.json (the API's
description holds no data), and the console's static assets under /assets. A read key: /metrics
(it names users and tenants among the top spenders), every GET under /api/v1 and the console's
pages. An admin key: POST /api/v1/evaluate.

A browser cannot add a header to the pages it opens, so the console's pages also take the key
as the password of HTTP Basic authentication (any user name): the browser asks for it once and
sends it with every request to the service.

A state-changing route also takes only what a web page cannot send to another origin
without the browser asking first: a JSON body or none (a form, `multipart/form-data`,
`text/plain` or a body of no type gets 415), and no request that a page of another origin
made (its `Origin` header names another host: 403). With keys off, on loopback, that is
what keeps a page the operator visits from running a cycle.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from ground.auth import KeyRing, Principal, Scope
from ground.errors import Forbidden, Unauthenticated

__all__ = ["UNAUTHORIZED_CHALLENGE", "documents_keys", "no_cross_site_writes", "requires", "requires_in_browser"]

# RFC 6750: a 401 names the scheme to authenticate with; a 403 says the token's scope is short.
UNAUTHORIZED_CHALLENGE = 'Bearer realm="agentslo"'
_SCOPE_CHALLENGE = 'Bearer realm="agentslo", error="insufficient_scope"'

# Declared as security schemes so that /docs offers both ways of sending a key (Authorize).
_AUTHORIZATION = APIKeyHeader(name="authorization", auto_error=False, scheme_name="bearer",
                              description="`Bearer <key>`")
_API_KEY = APIKeyHeader(name="x-api-key", auto_error=False, scheme_name="x-api-key", description="`<key>`")


def documents_keys() -> Any:
    """A route dependency that checks nothing: it declares the key schemes on a route that checks its
    key itself (OTLP/HTTP, before reading the body), so that the API description, /docs and the
    fuzzer send one."""

    async def declared(authorization: Annotated[str | None, Security(_AUTHORIZATION)],
                       api_key: Annotated[str | None, Security(_API_KEY)]) -> None:
        return None

    return Depends(declared)


def requires(keys: KeyRing, scope: Scope) -> Any:
    """A route dependency: the request's key must grant `scope` (401 without a valid key, 403 for a
    key of another scope); with keys off, every request passes."""

    async def authorized(authorization: Annotated[str | None, Security(_AUTHORIZATION)],
                         api_key: Annotated[str | None, Security(_API_KEY)]) -> Principal:
        try:
            return keys.authorize(authorization, api_key, scope)
        except Unauthenticated as exc:
            raise HTTPException(401, str(exc), headers={"WWW-Authenticate": UNAUTHORIZED_CHALLENGE}) from None
        except Forbidden as exc:
            raise HTTPException(403, str(exc), headers={"WWW-Authenticate": _SCOPE_CHALLENGE}) from None

    return Depends(authorized)


def requires_in_browser(keys: KeyRing, scope: Scope) -> Any:
    """A page's dependency: as `requires`, and the key may also come as the password of HTTP Basic
    authentication, which a 401 asks the browser for."""

    async def authorized(request: Request) -> Principal:
        authorization = request.headers.get("authorization")
        scheme, _, credentials = (authorization or "").strip().partition(" ")
        if scheme.lower() == "basic":
            try:
                authorization = "Bearer " + base64.b64decode(credentials.strip(), validate=True).decode().partition(":")[2]
            except (binascii.Error, UnicodeDecodeError):
                authorization = "Basic"  # malformed: refused as such below
        try:
            return keys.authorize(authorization, request.headers.get("x-api-key"), scope)
        except Unauthenticated as exc:
            raise HTTPException(401, str(exc), headers={"WWW-Authenticate": _BROWSER_CHALLENGE}) from None
        except Forbidden as exc:
            raise HTTPException(403, str(exc)) from None

    return Depends(authorized)


# The browser's own prompt: a user name (any) and the key as the password.
_BROWSER_CHALLENGE = 'Basic realm="agentslo: an API key of scope read as the password", charset="UTF-8"'


async def _same_site_json(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower():
        raise HTTPException(403, f"refused a request from the web page at {origin}: "
                                 "the API changes state only for callers on its own origin")
    content_type = request.headers.get("content-type")
    media = (content_type or "").split(";", 1)[0].strip().lower()
    has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    if media == "application/json" or (content_type is None and not has_body):
        return
    route = f"{request.method} {request.url.path}"
    got = media or "a body with no Content-Type"
    raise HTTPException(415, f"{route} takes a JSON body (Content-Type: application/json) or none, got {got}")


no_cross_site_writes = Depends(_same_site_json)
"""A route dependency for routes that change state: a JSON body or none, and no other origin's page."""
