"""Resolving a webhook target and pinning the call to the addresses that were checked.

A host name is resolved and every address it resolves to must be allowed (domain/push.py); the
request then goes to the first of those very addresses, with the host name in `Host` and as the TLS
server name (so the certificate is still checked against the name), so a DNS answer that changes
between the check and the connection (DNS rebinding) cannot point the call elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from complaints_notifications.domain.push import (
    IpAddress,
    IpNetwork,
    TargetRefused,
    address_class,
    check_scheme,
    refused_address,
)
from complaints_notifications.settings import NotificationSettings


class Unresolvable(TargetRefused):
    """The host name does not resolve (now): at delivery time worth another try."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked target: the URL to call (its host an address that was checked) and what to send
    as `Host` and TLS server name."""

    url: str
    host_header: str
    server_name: str | None


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    allow_http: bool
    allowed: Sequence[IpNetwork]
    resolve_timeout_s: float

    @classmethod
    def of(cls, settings: NotificationSettings) -> TargetPolicy:
        return cls(
            settings.webhook_allow_http,
            [ipaddress.ip_network(str(n)) for n in settings.webhook_allowed_networks],
            settings.webhook_resolve_timeout_s,
        )

    def parse(self, url: str) -> SplitResult:
        """The URL's shape alone: scheme, a host, no credentials in it."""
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError as exc:
            raise TargetRefused("The target is not a valid URL.") from exc
        check_scheme(parts.scheme, self.allow_http)
        if not parts.hostname:
            raise TargetRefused("The target URL names no host.")
        if parts.username is not None or parts.password is not None:
            raise TargetRefused("The target URL may not carry credentials; the signature authenticates.")
        if parts.fragment:
            raise TargetRefused("The target URL may not have a fragment.")
        return parts

    async def check(self, url: str) -> Target:
        """Refuse a target that is malformed, not https (unless allowed), or any of whose addresses
        is not public (unless its network is allowed); else the call pinned to a checked address."""
        parts = self.parse(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = await self.resolve(host, port)
        refused = refused_address(addresses, self.allowed)
        if refused is not None:
            raise TargetRefused(
                f"The target's host resolves to a {address_class(refused)} address, which is not allowed."
            )
        pinned = addresses[0]
        literal = f"[{pinned}]" if pinned.version == 6 else str(pinned)
        return Target(
            url=parts._replace(netloc=f"{literal}:{port}").geturl(),
            host_header=parts.netloc,
            server_name=host if parts.scheme == "https" else None,
        )

    async def resolve(self, host: str, port: int) -> list[IpAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        try:
            infos = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM),
                self.resolve_timeout_s,
            )
        except (OSError, TimeoutError) as exc:
            raise Unresolvable("The target's host name does not resolve.") from exc
        # Scope ids (fe80::1%eth0) are dropped: link-local is refused anyway unless allowed.
        found = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        if not found:
            raise Unresolvable("The target's host name does not resolve.")
        return list(dict.fromkeys(found))
