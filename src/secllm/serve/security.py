"""API keys, the failed-key rate limit, and the Host/Origin rules of the API's guard.

    >>> weak_key_reason("k")
    'shorter than 16 characters'
    >>> KeyChecker(["Zq7-Hw2pLx9_Vb4nRk8tYs3"]).check(b"Zq7-Hw2pLx9_Vb4nRk8tYs3")
    True
    >>> host_of("[::1]:8000"), host_of("LocalHost:80"), host_of("127.0.0.1")
    ('::1', 'localhost', '127.0.0.1')
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from itertools import pairwise
from urllib.parse import urlsplit

MIN_KEY_CHARS = 16
KEY_HINT = ('make one with: python -c "import secrets; print(secrets.token_urlsafe(32))" '
            "and pass it as SECLLM_API_KEYS=<key> (or --api-key)")
# Placeholders people paste into configs; matched case-insensitively inside the key. Only words of
# six or more letters: a random 43-character token contains one by chance about once in 10^7.
_PLACEHOLDERS = ("password", "passwd", "changeme", "secret", "example", "letmein", "qwerty", "default",
                 "123456", "abcdef")
# Names that always mean this machine; the bound host and operator-given names are added to these.
LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "127.0.0.1", "::1"})


def weak_key_reason(key: str) -> str | None:
    """Why ``key`` is too weak to guard the API, or None when it is acceptable.

    Rules: at least 16 characters, printable ASCII without spaces or commas (a header value, and
    ``SECLLM_API_KEYS`` is comma-separated), at least 8 distinct characters, not mostly a run of
    consecutive characters (``0123456789abcdef``), no common placeholder word.

        >>> weak_key_reason("0123456789abcdefghij")
        'mostly consecutive characters'
        >>> weak_key_reason("Zq7-Hw2pLx9_Vb4nRk8tYs3") is None
        True
    """
    if len(key) < MIN_KEY_CHARS:
        return f"shorter than {MIN_KEY_CHARS} characters"
    if not all("!" <= c <= "~" for c in key) or "," in key:
        return "not printable ASCII without spaces and commas"
    if len(set(key)) < 8:
        return "fewer than 8 distinct characters"
    steps = [ord(b) - ord(a) for a, b in pairwise(key)]
    if sum(abs(s) == 1 for s in steps) >= 0.75 * len(steps):
        return "mostly consecutive characters"
    low = key.lower()
    word = next((w for w in _PLACEHOLDERS if w in low), None)
    if word:
        return f"contains the placeholder {word!r}"
    return None


def check_api_keys(keys: Iterable[str]) -> None:
    """Raise ``ValueError`` (saying how to make a good key) when any key is weak."""
    for n, key in enumerate(keys, 1):
        reason = weak_key_reason(key)
        if reason:
            raise ValueError(f"API key #{n} is too weak ({reason}); {KEY_HINT}")


class KeyChecker:
    """Constant-time API key check.

    Both sides are hashed with SHA-256 first: ``hmac.compare_digest`` is constant-time only over
    inputs of equal length, so comparing digests hides the keys' lengths too. Every key is
    compared on every call (no early exit on the first match).
    """

    def __init__(self, keys: Iterable[str]):
        self.digests = [hashlib.sha256(k.encode()).digest() for k in keys]

    def __bool__(self) -> bool:
        return bool(self.digests)

    def check(self, given: bytes) -> bool:
        d = hashlib.sha256(given).digest()
        return sum(hmac.compare_digest(d, k) for k in self.digests) > 0


class FailureLimiter:
    """Token bucket of failed key attempts per client: ``burst`` failures at once, then
    ``per_second`` more each second. A client with an empty bucket is refused without its key
    being checked (a locked-out guesser learns nothing), until a token comes back.

    Memory is bounded: at most ``max_clients`` buckets, the least recently failed dropped first.
    IPv6 clients are bucketed per /64 (one host owns a whole /64 and could rotate inside it).

        >>> lim = FailureLimiter(burst=2, per_second=0.5, clock=lambda: 0.0)
        >>> lim.failed("10.0.0.1"); lim.failed("10.0.0.1"); lim.retry_after("10.0.0.1")
        2.0
        >>> FailureLimiter.client_key("2001:db8::7"), FailureLimiter.client_key("::ffff:10.0.0.1")
        ('2001:db8::/64', '10.0.0.1')
    """

    def __init__(self, burst: int = 20, per_second: float = 1.0, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        self.burst, self.rate, self.max_clients, self.clock = float(burst), per_second, max_clients, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()   # client -> (tokens, at)

    def __len__(self) -> int:
        return len(self._buckets)

    @staticmethod
    def client_key(host: str | None) -> str:
        if not host:
            return "-"
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return host[:64]
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.ipv4_mapped is not None:
                return str(ip.ipv4_mapped)
            return str(ipaddress.ip_network(f"{ip}/64", strict=False))
        return str(ip)

    def _tokens(self, client: str) -> float:
        tokens, at = self._buckets.get(client, (self.burst, self.clock()))
        return min(self.burst, tokens + (self.clock() - at) * self.rate)

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try a key again (0: now)."""
        if client not in self._buckets:
            return 0.0
        tokens = self._tokens(client)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def failed(self, client: str) -> None:
        """Record one failed attempt by ``client``."""
        tokens = self._tokens(client)
        self._buckets[client] = (max(0.0, tokens - 1), self.clock())
        self._buckets.move_to_end(client)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)


def _authority(authority: str) -> tuple[str, int | None] | None:
    """(host, port) of a ``Host`` header value; None when it does not parse."""
    try:
        u = urlsplit("//" + authority.strip())
        return (u.hostname or ""), u.port
    except ValueError:
        return None


def host_of(authority: str) -> str:
    """The host part of a ``Host`` header or URL authority, lower-cased, without port or brackets."""
    a = _authority(authority)
    return a[0] if a else ""


def same_origin(origin: str, scheme: str, host_header: str) -> bool:
    """True when a browser's ``Origin`` is this server's own origin (scheme, host and port).

        >>> same_origin("http://127.0.0.1:8000", "http", "127.0.0.1:8000")
        True
        >>> same_origin("http://evil.example", "http", "127.0.0.1:8000"), same_origin("null", "http", "x")
        (False, False)
    """
    default = {"http": 80, "https": 443, "ws": 80, "wss": 443}
    try:
        o = urlsplit(origin.strip())
        o_host, o_port = o.hostname, o.port
    except ValueError:
        return False
    here = _authority(host_header)
    if not o.scheme or not o_host or here is None:
        return False
    h_host, h_port = here
    return (o.scheme == scheme and o_host == h_host
            and (o_port or default.get(o.scheme)) == (h_port or default.get(scheme)))
