"""Normalisation of the values every flow format carries: addresses, protocols, ports, times."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import UTC, datetime

PROTOCOL_NUMBERS: dict[str, int] = {
    "icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51,
    "icmpv6": 58, "ipv6-icmp": 58, "vrrp": 112, "sctp": 132, "udplite": 136,
}
PROTOCOL_NAMES: dict[int, str] = {
    1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 47: "gre", 50: "esp", 51: "ah", 58: "icmpv6",
    112: "vrrp", 132: "sctp", 136: "udplite",
}
ICMP_PROTOCOLS = frozenset({1, 58})

# Epoch seconds accepted as a flow time: from 1970 to 9999-12-31T00:00Z, a day short of what
# datetime holds so that no rounding of fractions can step past it.
MAX_EPOCH = 253402214400

# Flow logs repeat the same few thousand addresses; caching the normalised spelling keeps
# ipaddress (microseconds per call) off the hot path, where parsers may read it directly.
ADDRESSES: dict[str, str] = {}
_ADDRESS_CACHE_LIMIT = 200_000


def address(text: str) -> str:
    """The canonical spelling of an IPv4/IPv6 address (`2001:0db8::0001` -> `2001:db8::1`)."""
    cached = ADDRESSES.get(text)
    if cached is not None:
        return cached
    if not isinstance(text, str):
        raise ValueError(f"address must be a string, not {type(text).__name__}")
    try:
        canonical = str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"not an IP address: {text[:60]!r}") from None
    if len(ADDRESSES) >= _ADDRESS_CACHE_LIMIT:
        ADDRESSES.clear()
    ADDRESSES[text] = canonical
    return canonical


def protocol(value: object) -> int:
    """An IANA protocol number from a number or a name (`6`, `"tcp"`, `"ICMPv6"`)."""
    if isinstance(value, str) and not value.isdigit():
        number = PROTOCOL_NUMBERS.get(value.lower())
        if number is None:
            raise ValueError(f"unknown protocol {value[:30]!r}")
        return number
    number = integer(value)
    if not 0 <= number <= 255:
        raise ValueError(f"protocol number out of range: {number}")
    return number


def port(value: object) -> int:
    """A port number 0..65535."""
    number = integer(value)
    if not 0 <= number <= 65535:
        raise ValueError(f"port out of range: {number}")
    return number


def small(value: object, limit: int = 255) -> int:
    """A small non-negative number such as an ICMP type or code."""
    number = integer(value)
    if not 0 <= number <= limit:
        raise ValueError(f"value out of range 0..{limit}: {number}")
    return number


def count(value: object) -> int:
    """A non-negative packet or byte counter."""
    number = integer(value)
    if number < 0:
        raise ValueError(f"negative counter: {number}")
    return number


def integer(value: object) -> int:
    """An int from a JSON number or a decimal string (JSON int64 fields arrive as strings)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, found {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"expected an integer, found {str(value)[:40]!r}")


def optional(value: object, convert: Callable[[object], int]) -> int | None:
    """convert(value), or None for a field the record leaves out (JSON null or missing)."""
    return None if value is None else convert(value)


def text_or_none(value: object) -> str | None:
    """A non-empty JSON string, else None."""
    return value if isinstance(value, str) and value else None


def epoch(value: float) -> float:
    """Seconds since 1970 UTC, checked to lie in the range a datetime can hold."""
    if not 0 <= value <= MAX_EPOCH:
        raise ValueError(f"timestamp out of range: {value}")
    return value


def epoch_from_iso(text: object) -> float:
    """Seconds since 1970 from an RFC 3339 time; a time without an offset is taken as UTC."""
    if not isinstance(text, str):
        raise ValueError(f"expected an RFC 3339 time, found {str(text)[:40]!r}")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an RFC 3339 time: {text[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return epoch(parsed.timestamp())
    except OverflowError:
        raise ValueError(f"time out of range: {text[:40]!r}") from None


def epoch_of(moment: datetime) -> float:
    """Seconds since 1970 of a datetime; a naive one is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def utc(seconds: float) -> datetime:
    """The timezone-aware UTC datetime of an epoch second count."""
    return datetime.fromtimestamp(seconds, UTC)
