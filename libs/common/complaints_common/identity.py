"""Who calls and who acts: OAuth 2.0 / OpenID Connect bearer tokens and tenant-bound API keys.

A bearer token (a JWT from the tenant's identity provider: Keycloak, Entra ID, Okta, Auth0 or the
development issuer) is verified with PyJWT against the issuer's JWKS: signature, `iss`, `aud`, `exp`
and `nbf` with a clock-skew leeway. The tenant (the CRM client) is the `client_id` claim (RFC 9068;
the claim's name is a setting), the person is `sub` and their role the `role` claim (a dotted path,
so Keycloak's `realm_access.roles` works too). When the CRM exchanged its agent's token (RFC 8693),
the `act` claim names the CRM acting for that person; it is kept as `via`.

An API key is bound to one tenant and carries scopes but no person: it files and reads for its
CRM client, and any decision it takes is held to the agent's limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from complaints_common.problems import Unauthorised
from complaints_common.settings import ApiKey, ServiceSettings

log = logging.getLogger(__name__)

Role = Literal["agent", "supervisor", "manager", "admin", "platform-operator"]
ROLES: tuple[Role, ...] = get_args(Role)
# Spans every tenant (issues keys for any client, replaces the platform's policy). Only an identity
# provider can make one: no API key carries this scope unless an operator configured it at start-up.
PLATFORM_SCOPE = "platform"
WORK_SCOPES = frozenset({"file", "read", "manage"})
ROLE_SCOPES: dict[Role, frozenset[str]] = {
    "agent": WORK_SCOPES,
    "supervisor": WORK_SCOPES | {"confidential"},
    "manager": WORK_SCOPES | {"confidential"},
    "admin": WORK_SCOPES | {"confidential", "admin"},
    "platform-operator": WORK_SCOPES | {"confidential", "admin", PLATFORM_SCOPE},
}
# Scopes a machine token (no person, no role) may carry in its `scope` claim.
MACHINE_SCOPES = WORK_SCOPES | {"confidential"}
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
PERSON_PATTERN = re.compile(r"^[A-Za-z0-9._@:|-]{1,200}$")


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated person: who they are at their tenant's identity provider, and their role."""

    person: str
    role: Role


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling (`client`, the tenant) and, for a person's token, who acts and in which role."""

    client: str
    scopes: frozenset[str]
    actor: Actor | None = None
    key_id: str | None = None
    via: str | None = None  # RFC 8693 `act`: the CRM acting on the person's behalf

    @property
    def actor_id(self) -> str:
        """What the audit records: the person, or the API key for machine calls."""
        if self.actor is not None:
            return self.actor.person
        return f"api-key:{self.key_id}" if self.key_id else f"client:{self.client}"

    @property
    def role(self) -> Role | None:
        return self.actor.role if self.actor else None

    @property
    def sees_confidential(self) -> bool:
        """May read confidential complaints (and what was said about them) of its tenant."""
        return bool({"confidential", "admin"} & self.scopes)

    @property
    def platform_operator(self) -> bool:
        return PLATFORM_SCOPE in self.scopes


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_principal(keys: list[ApiKey], presented: str) -> Principal:
    """Compare digests in constant time, against every key, so timing says nothing."""
    digest = hash_key(presented)
    match = None
    for key in keys:
        if hmac.compare_digest(digest, key.sha256):
            match = key
    if match is None:
        raise Unauthorised("The API key is not valid.")
    return Principal(match.client, frozenset(match.scopes), key_id=match.id or match.sha256[:12])


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def role_of(raw: Any) -> Role | None:
    """The highest platform role among the claim's values (a string or a list; others ignored)."""
    values = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list) else []
    known = [value for value in values if value in ROLES]
    return max(known, key=ROLES.index) if known else None


def principal_from_claims(claims: Mapping[str, Any], tenant_claim: str, role_claim: str) -> Principal:
    tenant = _claim(claims, tenant_claim)
    if not isinstance(tenant, str) or not TENANT_PATTERN.match(tenant):
        raise Unauthorised(f"The token names no client in its '{tenant_claim}' claim.")
    act = claims.get("act")
    via = act.get("sub") if isinstance(act, Mapping) and isinstance(act.get("sub"), str) else None
    role = role_of(_claim(claims, role_claim))
    if role is None:
        # A machine token (client credentials): the client's own scopes, no person.
        scopes = frozenset(str(claims.get("scope", "")).split()) & MACHINE_SCOPES
        return Principal(tenant, scopes, via=via)
    person = claims.get("sub")
    if not isinstance(person, str) or not PERSON_PATTERN.match(person):
        raise Unauthorised("The token's subject is not a usable person id.")
    return Principal(tenant, ROLE_SCOPES[role], actor=Actor(person, role), via=via)


class JwksKeys:
    """The issuer's signing keys by `kid`: from a JWKS URL (fetched again after `refresh_s`, or at
    once, at most every 10 s, when a token names a key not seen yet: key rotation) or a JWKS file
    (read again when it changes)."""

    MIN_REFETCH_S = 10.0

    def __init__(self, url: str | None, file: Path | None, refresh_s: float) -> None:
        self.url, self.file, self.refresh_s = url, file, refresh_s
        self._keys: dict[str, PyJWK] = {}
        self._loaded_at = -float("inf")
        self._file_mtime: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> PyJWK:
        stale = time.monotonic() - self._loaded_at > self.refresh_s
        unknown = kid not in self._keys and time.monotonic() - self._loaded_at > self.MIN_REFETCH_S
        if stale or unknown or self._file_changed():
            async with self._lock:
                await self._load()
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        found = self._keys.get(kid or "")
        if found is None:
            raise Unauthorised("The token is signed with a key the issuer does not publish.")
        return found

    def _file_changed(self) -> bool:
        return self.file is not None and self._mtime() != self._file_mtime

    def _mtime(self) -> float | None:
        try:
            return self.file.stat().st_mtime if self.file else None
        except OSError:
            return None

    async def _load(self) -> None:
        try:
            if self.file is not None:
                self._file_mtime = self._mtime()
                jwk_set = PyJWKSet.from_dict(json.loads(self.file.read_text()))
            else:
                assert self.url
                # PyJWKClient fetches with urllib (blocking): off the event loop.
                client = PyJWKClient(self.url, cache_jwk_set=False, timeout=5)
                jwk_set = await asyncio.to_thread(client.get_jwk_set)
        except Exception as exc:
            log.warning("could not load the issuer's JWKS", extra={"error": type(exc).__name__})
            if not self._keys:
                raise Unauthorised("The issuer's keys cannot be read; try again shortly.") from exc
            return
        self._keys = {key.key_id: key for key in jwk_set.keys if key.key_id}
        if len(jwk_set.keys) == 1 and not self._keys:
            self._keys = {"": jwk_set.keys[0]}
        self._loaded_at = time.monotonic()


class TokenVerifier:
    """Bearer tokens of one issuer, for one audience (the platform's API)."""

    def __init__(self, settings: ServiceSettings) -> None:
        auth = settings.auth
        self.settings = auth
        self.keys = JwksKeys(auth.jwks_url, auth.jwks_file, auth.jwks_refresh_s)

    @property
    def configured(self) -> bool:
        return bool(self.settings.issuer and (self.settings.jwks_url or self.settings.jwks_file))

    async def verify(self, token: str) -> Principal:
        if not self.configured:
            raise Unauthorised("This service accepts no bearer tokens; send an API key.")
        auth = self.settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorised("The bearer token is not a JWT.") from exc
        if header.get("alg") not in auth.algorithms:
            raise Unauthorised("The token's signing algorithm is not accepted.")
        key = await self.keys.key(header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=list(auth.algorithms),
                audience=auth.audience,
                issuer=auth.issuer,
                leeway=auth.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorised("The bearer token has expired.") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthorised("The bearer token is not meant for this API (audience).") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthorised("The bearer token comes from an issuer this API does not trust.") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorised("The bearer token is not valid.") from exc
        return principal_from_claims(claims, auth.tenant_claim, auth.role_claim)


KeyLoader = Callable[[], Awaitable[list[ApiKey]]]


class KeyRing:
    """The API keys a service honours: the start-up keys of its settings (development only) plus
    the keys intake issued, read from the service's own `api_keys` table (which the
    `platform.api-keys` consumer keeps) at most every `api_key_refresh_s` seconds."""

    def __init__(self, bootstrap: list[ApiKey], refresh_s: float, load: KeyLoader | None = None) -> None:
        self.bootstrap, self.refresh_s, self.load = bootstrap, refresh_s, load
        self.keys: list[ApiKey] = list(bootstrap)
        self.loaded_at = -float("inf")
        self._lock = asyncio.Lock()

    async def current(self, *, force: bool = False) -> list[ApiKey]:
        if self.load is None:
            return self.keys
        if force or time.monotonic() - self.loaded_at >= self.refresh_s:
            async with self._lock:
                if force or time.monotonic() - self.loaded_at >= self.refresh_s:
                    self.keys = [*self.bootstrap, *await self.load()]
                    self.loaded_at = time.monotonic()
        return self.keys
