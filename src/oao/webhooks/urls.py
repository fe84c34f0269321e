"""Which endpoint URLs a webhook may be sent to.

A webhook makes OAO's server send requests to an address a merchant chose, so
an unchecked URL would let anyone with an API key probe the operator's own
network (server-side request forgery). Only http and https are accepted, and
hosts that are or resolve to loopback, private, link-local, multicast or
otherwise non-public addresses are refused, both when subscribing and again
right before each send (a name may resolve differently later). Redirects are
never followed when sending, so a public endpoint cannot bounce us inwards.

ALLOW_LOOPBACK turns the address check off: for tests and for a single-host
setup whose receiver runs beside OAO (setting OAO_WEBHOOKS_ALLOW_PRIVATE_HOSTS
once the lead wires it).

Pure apart from name resolution (`socket.getaddrinfo`), which `resolve` takes
as a parameter so tests need no DNS.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

ALLOW_LOOPBACK = False
MAX_URL_LENGTH = 2000
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".lan")

Resolver = Callable[[str, int], list[str]]


class UrlRefused(ValueError):
    pass


def _system_resolve(host: str, port: int) -> list[str]:
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_shape(url: str, *, allow_private: bool) -> tuple[str, int]:
    """The (host, port) of an acceptable URL, judged without any network access; UrlRefused otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"the URL cannot be parsed: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("the URL must start with https:// (or http://)")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UrlRefused("the URL has no host")
    if parts.username or parts.password:
        raise UrlRefused("the URL must not carry a user name or password; authenticate with the signature")
    port = port or (443 if parts.scheme == "https" else 80)
    if allow_private:
        return host, port
    if host == "localhost" or host.endswith(_LOCAL_SUFFIXES):
        raise UrlRefused(f"the host {host!r} is local to the server, not a public address")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and not is_public_address(host):
        raise UrlRefused(f"the address {host} is loopback, private or otherwise not public")
    return host, port


def check_destination(url: str, *, allow_private: bool, resolve: Resolver | None = None) -> None:
    """check_shape, then every address the host resolves to must be public (right before sending)."""
    host, port = check_shape(url, allow_private=allow_private)
    if allow_private:
        return
    try:
        addresses = (resolve or _system_resolve)(host, port)
    except OSError as exc:
        raise UrlRefused(f"the host {host!r} does not resolve: {exc}") from None
    if not addresses:
        raise UrlRefused(f"the host {host!r} does not resolve")
    for address in addresses:
        if not is_public_address(address):
            raise UrlRefused(f"the host {host!r} resolves to {address}, which is not a public address")
