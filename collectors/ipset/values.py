"""What an ipset dump holds once read: sets, their members and the values of element parts."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import FrozenInstanceError, dataclass
from typing import Any, TypeAlias

from collectors.errors import ParseError, ParseWarning
from collectors.ipset.names import ICMP, ICMPV6, PROTO_NAMES, SET_TYPES

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


class IpsetParseError(ParseError):
    """A line of an ipset dump that cannot be understood at all (str: `file:line:col: why`)."""


@dataclass(frozen=True, slots=True)
class AddressRange:
    """An inclusive address range `first-last` as written in an element or option."""

    first: Address
    last: Address

    def networks(self) -> tuple[Network, ...]:
        """The CIDR blocks covering exactly the range, as ipset splits it for hash:net."""
        return tuple(ipaddress.summarize_address_range(self.first, self.last))

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


@dataclass(frozen=True, slots=True)
class PortValue:
    """A `[proto:]port[-port]` part; ICMP type/code is `(type << 8) | code`, proto None: any."""

    proto: int | None
    first: int
    last: int

    def __str__(self) -> str:
        if self.proto in (ICMP, ICMPV6):
            return f"{PROTO_NAMES[self.proto]}:{self.first >> 8}/{self.first & 0xFF}"
        ports = str(self.first) if self.first == self.last else f"{self.first}-{self.last}"
        if self.proto is None:
            return ports
        return f"{PROTO_NAMES.get(self.proto, self.proto)}:{ports}"


@dataclass(frozen=True, slots=True)
class Interface:
    """The interface of a hash:net,iface element; `physdev` marks a bridge port."""

    name: str
    physdev: bool = False

    def __str__(self) -> str:
        return f"physdev:{self.name}" if self.physdev else self.name


# One element part: network/range ("ip", "net"), PortValue, Interface, MAC or set name (str),
# mark (int), or None for the MAC that a bitmap:ip,mac element may leave out.
ElementValue: TypeAlias = Network | AddressRange | PortValue | Interface | str | int | None


@dataclass(frozen=True, slots=True)
class MemberOptions:
    """The per-element options a line may carry after its value."""

    nomatch: bool = False
    timeout: int | None = None
    packets: int | None = None
    bytes: int | None = None
    comment: str | None = None
    skbmark: tuple[int, int] | None = None
    skbprio: tuple[int, int] | None = None
    skbqueue: int | None = None
    wildcard: bool = False
    extra: tuple[tuple[str, str | None], ...] = ()


_NO_OPTIONS = MemberOptions()


class SetMember:
    """One element of a set with its per-element options, from one line of the dump.

    A fleet's dumps hold millions of elements, nearly all without options: those keep only
    their values and line, and read every option as its default."""

    __slots__ = ("values", "line", "options")
    values: tuple[ElementValue, ...]
    line: int
    options: MemberOptions

    def __init__(self, values: tuple[ElementValue, ...], *, line: int = 0,
                 **options: Any) -> None:
        set_ = object.__setattr__
        set_(self, "values", values)
        set_(self, "line", line)
        set_(self, "options", MemberOptions(**options) if options else _NO_OPTIONS)

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SetMember):
            return NotImplemented
        return (self.values, self.line, self.options) == (other.values, other.line,
                                                          other.options)

    def __hash__(self) -> int:
        return hash((self.values, self.line, self.options))

    def __repr__(self) -> str:
        extra = "" if self.options is _NO_OPTIONS else f", options={self.options!r}"
        return f"SetMember(values={self.values!r}, line={self.line}{extra})"

    @property
    def nomatch(self) -> bool:
        return self.options.nomatch

    @property
    def timeout(self) -> int | None:
        return self.options.timeout

    @property
    def packets(self) -> int | None:
        return self.options.packets

    @property
    def bytes(self) -> int | None:
        return self.options.bytes

    @property
    def comment(self) -> str | None:
        return self.options.comment

    @property
    def skbmark(self) -> tuple[int, int] | None:
        return self.options.skbmark

    @property
    def skbprio(self) -> tuple[int, int] | None:
        return self.options.skbprio

    @property
    def skbqueue(self) -> int | None:
        return self.options.skbqueue

    @property
    def wildcard(self) -> bool:
        return self.options.wildcard

    @property
    def extra(self) -> tuple[tuple[str, str | None], ...]:
        return self.options.extra


@dataclass(frozen=True, slots=True)
class IpSet:
    """One set: name, canonical type, family (None: any), create options and members."""

    name: str
    set_type: str
    family: str | None
    options: Mapping[str, object]
    members: tuple[SetMember, ...]
    line: int
    revision: int | None = None

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The kinds of the element parts, e.g. ("net", "port") for hash:net,port."""
        return SET_TYPES[self.set_type]


@dataclass(frozen=True, slots=True)
class IpSetDump:
    """Every set of one dump by name, in dump order, and the warnings met on the way."""

    sets: Mapping[str, IpSet]
    warnings: tuple[ParseWarning, ...]
    filename: str = "<input>"
    format: str = "save"
