"""Guarding webhook URLs against server-side request forgery.

A webhook URL must not make the service call into the retailer's own network: private, loopback,
link-local and other non-public addresses are refused unless explicitly allowed. The check runs
when an endpoint is saved and again when each delivery resolves the host, and the delivery then
connects to exactly the address that was checked (a name can change what it points to).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from urllib.parse import urlsplit


class UnsafeURL(ValueError):
    """A URL the service will not call."""


def check_shape(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of an http(s) URL without credentials; raises ``UnsafeURL``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL("a webhook URL must be http or https")
    if not parts.hostname:
        raise UnsafeURL("a webhook URL needs a host")
    if parts.username or parts.password:
        raise UnsafeURL("a webhook URL may not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeURL("the port is not a number") from None
    return parts.scheme, parts.hostname, port


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve(url: str, *, allow_private: bool) -> str:
    """The address to connect to for ``url``, after checking every address the host has."""
    _, host, port = check_shape(url)
    return check_addresses(host, await lookup(host, port), allow_private=allow_private)


async def lookup(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an address literal is its own answer)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeURL(f"the host {host} does not resolve") from exc
    return [str(info[4][0]) for info in infos]


def check_addresses(host: str, addresses: list[str], *, allow_private: bool) -> str:
    """The first address, once every one of them is allowed; raises ``UnsafeURL``."""
    if not addresses:
        raise UnsafeURL(f"the host {host} does not resolve")
    if not allow_private:
        blocked = [a for a in addresses if not is_public(a)]
        if blocked:
            raise UnsafeURL(
                f"{host} points to a private or reserved address ({blocked[0]}); set "
                "OMNIGIFT_WEBHOOKS_ALLOW_PRIVATE_URLS=true to allow it"
            )
    return addresses[0]


class Resolver:
    """``resolve`` for the delivery loop, remembering each host's answer for ``ttl`` seconds.

    Only the lookup is remembered: every use checks the remembered addresses again and the
    delivery connects to the address that was checked, so a cached answer can never lead to an
    unchecked address; a host that starts pointing elsewhere is seen within ``ttl``.
    """

    def __init__(self, ttl: float = 5.0, size: int = 1024) -> None:
        self.ttl, self.size = ttl, size
        self._answers: dict[tuple[str, int], tuple[float, list[str]]] = {}

    async def resolve(self, url: str, *, allow_private: bool) -> str:
        _, host, port = check_shape(url)
        key, now = (host, port), time.monotonic()
        hit = self._answers.get(key)
        if hit is not None and hit[0] > now:
            addresses = hit[1]
        else:
            addresses = await lookup(host, port)
            if len(self._answers) >= self.size:
                self._answers.clear()
            self._answers[key] = (now + self.ttl, addresses)
        return check_addresses(host, addresses, allow_private=allow_private)
