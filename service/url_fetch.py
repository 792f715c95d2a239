"""Search by an image URL (off by default: ``LODISC_ALLOW_URL_FETCH=1``), without becoming a proxy
into the service's own network.

Only http(s); the host's every resolved address must be public (not private, loopback, link-local,
multicast, reserved or unspecified), and the address actually connected to is checked again before
the body is read (a DNS answer that changed in between is refused); redirects are followed by hand,
each one checked the same way; the body is capped at ``max_bytes`` and the whole fetch at a
deadline. Every refusal is an :class:`UrlFetchError` with the HTTP status to answer.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

AddressPolicy = Callable[[ipaddress.IPv4Address | ipaddress.IPv6Address], bool]
REDIRECT_STATUSES = (301, 302, 303, 307, 308)


class UrlFetchError(ValueError):
    """A URL that cannot be fetched; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class FetchLimits:
    """Caps of one fetch."""

    max_bytes: int
    timeout_s: float = 10.0
    max_redirects: int = 3


def public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address is on the public internet (the default policy)."""
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address ``host`` resolves to.

    Raises:
        UrlFetchError: the name does not resolve (400).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise UrlFetchError(f"cannot resolve {host!r}: {err}") from err
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def check_url(url: str, allowed: AddressPolicy) -> None:
    """Refuse a URL that is not http(s) or whose host resolves to an address not allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlFetchError(f"only http and https URLs with a host can be fetched, not {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for address in resolve(parts.hostname, port):
        if not allowed(address):
            raise UrlFetchError(f"{parts.hostname} resolves to {address}, which is not public")


def fetch_image(url: str, limits: FetchLimits, allowed: AddressPolicy = public_address) -> bytes:
    """The bytes at ``url``, following redirects by hand, each hop checked.

    Raises:
        UrlFetchError: refused address or scheme (400), too many redirects (400), an upstream
            error status (400), a body over ``max_bytes`` (413), or over the deadline (408).
    """
    deadline = time.monotonic() + limits.timeout_s
    with httpx.Client(follow_redirects=False, trust_env=False) as client:
        for _ in range(limits.max_redirects + 1):
            check_url(url, allowed)
            remaining = max(0.001, deadline - time.monotonic())
            try:
                with client.stream("GET", url, timeout=remaining) as response:
                    _check_peer(response, allowed)
                    if response.status_code in REDIRECT_STATUSES:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    if response.status_code != 200:
                        raise UrlFetchError(f"{url} answered HTTP {response.status_code}")
                    return _read_capped(response, limits.max_bytes, deadline)
            except httpx.TimeoutException as err:
                raise UrlFetchError(
                    f"fetching {url} took over {limits.timeout_s:g} s", 408
                ) from err
            except httpx.HTTPError as err:
                raise UrlFetchError(f"cannot fetch {url}: {err}") from err
    raise UrlFetchError(f"more than {limits.max_redirects} redirects from the image URL")


def _check_peer(response: httpx.Response, allowed: AddressPolicy) -> None:
    """Refuse a connection that reached an address not allowed (DNS changed since the check)."""
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if peer and not allowed(ipaddress.ip_address(peer[0])):
        raise UrlFetchError(f"the image URL connected to {peer[0]}, which is not public")


def _read_capped(response: httpx.Response, max_bytes: int, deadline: float) -> bytes:
    """The body, refusing (413) more than ``max_bytes`` and (408) a read past ``deadline``."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise UrlFetchError(f"the image at the URL is {declared} bytes, over {max_bytes}", 413)
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise UrlFetchError(f"the image at the URL is over {max_bytes} bytes", 413)
        if time.monotonic() > deadline:
            raise UrlFetchError("the image URL sent its body too slowly", 408)
    return bytes(body)
