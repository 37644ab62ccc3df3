"""The element parts of ipset members: addresses, networks, ranges, ports, ICMP types, MACs,
interfaces and marks, each checked as ipset checks it."""

from __future__ import annotations

import ipaddress
import re
import socket
from functools import lru_cache
from types import MappingProxyType

from collectors.ipset.names import (
    ICMP,
    ICMP_TYPES,
    ICMPV6,
    ICMPV6_TYPES,
    NO_FAMILY,
    PORT_PROTOCOLS,
    PROTO_NAMES,
    PROTOCOLS,
    SERVICES,
    SET_TYPES,
)
from collectors.ipset.values import (
    Address,
    AddressRange,
    ElementValue,
    Interface,
    IpSet,
    IpsetParseError,
    Network,
    PortValue,
    SetMember,
)


class SetBuilder:
    """A set while its dump is being read; frozen into an IpSet at the end."""

    def __init__(self, name: str, set_type: str, line: int) -> None:
        self.name = name
        self.set_type = set_type
        self.line = line
        self.family: str | None = None if set_type in NO_FAMILY else "inet"
        self.infer_family = False
        self.options: dict[str, object] = {}
        self.members: list[SetMember] = []
        self.revision: int | None = None

    def freeze(self) -> IpSet:
        return IpSet(self.name, self.set_type, self.family, MappingProxyType(dict(self.options)),
                     tuple(self.members), self.line, self.revision)


_LEADING_ZERO = re.compile(r"(?:^|\.)0\d")


def split_outside_brackets(text: str, sep: str, maxsplit: int = -1) -> list[tuple[str, int]]:
    """Split on `sep` outside [brackets]; each piece with its offset in `text`."""
    if "[" not in text:
        pieces, start = [], 0
        for piece in text.split(sep, maxsplit):
            pieces.append((piece, start))
            start += len(piece) + 1
        return pieces
    pieces = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth = max(0, depth - 1)
        elif ch == sep and depth == 0 and (maxsplit < 0 or len(pieces) < maxsplit):
            pieces.append((text[start:i], start))
            start = i + 1
    pieces.append((text[start:], start))
    return pieces


# Fleets repeat the same members on many hosts (a segment's set on every host it reaches):
# one immutable element per text keeps a thousand hosts' dumps from holding a thousand copies.
@lru_cache(maxsize=1 << 18)
def _plain_ipv4_element(text: str) -> tuple[ipaddress.IPv4Network] | None:
    network = _plain_ipv4_network(text)
    return (network,) if network is not None else None


def _plain_ipv4_network(text: str) -> ipaddress.IPv4Network | None:
    """`a.b.c.d` or `a.b.c.d/p` in canonical form, without the general parser's checks."""
    address, _, prefix = text.partition("/")
    if prefix and not (prefix.isdigit() and 0 < int(prefix) <= 32 and len(prefix) <= 2):
        return None
    try:
        packed = socket.inet_pton(socket.AF_INET, address)
    except (OSError, ValueError):  # ValueError: a NUL in the text
        return None
    if _LEADING_ZERO.search(address):
        return None
    return ipaddress.IPv4Network((int.from_bytes(packed, "big"), int(prefix or 32)), strict=False)


def unbracket(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == "[" and text[-1] == "]" else text


def strtoul(text: str) -> int | None:
    """C strtoul with base 0 (0x hex, leading-0 octal, else decimal); None if not a number."""
    t = text.strip()
    try:
        if t.lower().startswith("0x"):
            return int(t[2:], 16)
        if len(t) > 1 and t.startswith("0"):
            return int(t[1:], 8)
        return int(t, 10) if t.isdigit() else None
    except ValueError:
        return None



class ElementReader:
    """Reads the element parts and per-member marks of one set's members; the parser that
    inherits it reports errors and warnings with its file name."""

    def error(self, line: int, column: int, reason: str) -> IpsetParseError:
        raise NotImplementedError

    def warn(self, line: int, message: str, once_per: str | None = None) -> None:
        raise NotImplementedError

    def _skbmark(self, value: str, col: int, lineno: int) -> tuple[int, int]:
        mark_text, _, mask_text = value.partition("/")
        mark = strtoul(mark_text)
        mask = strtoul(mask_text) if mask_text else 0xFFFFFFFF
        if mark is None or mask is None or mark > 0xFFFFFFFF or mask > 0xFFFFFFFF:
            raise self.error(lineno, col, f"bad skbmark {value!r}: expected MARK[/MASK]")
        return mark, mask

    def _skbprio(self, value: str, col: int, lineno: int) -> tuple[int, int]:
        major, sep, minor = value.partition(":")
        try:
            if sep:
                return int(major, 16), int(minor, 16)
        except ValueError:
            pass
        raise self.error(lineno, col, f"bad skbprio {value!r}: expected MAJOR:MINOR in hex")

    def _element(self, builder: SetBuilder, text: str, col: int,
                 lineno: int) -> tuple[ElementValue, ...]:
        kinds = SET_TYPES[builder.set_type]
        if kinds == ("set",):
            return (text,)
        if len(kinds) == 1 and builder.family == "inet" and not builder.infer_family:
            fast = _plain_ipv4_element(text)
            if fast is not None:
                return fast
        parts = split_outside_brackets(text, ",", len(kinds) - 1)
        if builder.set_type == "bitmap:ip,mac" and len(parts) == 1:
            parts.append(("", -1))
        if len(parts) != len(kinds):
            raise self.error(lineno, col, f"{builder.set_type} elements have {len(kinds)} "
                             f"comma-separated parts, got {text!r}")
        values: list[ElementValue] = []
        for kind, (part, offset) in zip(kinds, parts, strict=True):
            where = col + max(offset, 0)
            if not part and offset >= 0:
                raise self.error(lineno, where, f"empty {kind} part in {text!r}")
            values.append(self._part(builder, kind, part, where, lineno))
        return tuple(values)

    def _part(self, builder: SetBuilder, kind: str, text: str, col: int,
              lineno: int) -> ElementValue:
        if kind in ("ip", "net"):
            return self._address_part(builder, kind, text, col, lineno)
        if kind == "mac":
            return self._mac(text, col, lineno) if text else None
        if kind == "port":
            return self._port(text, col, lineno, builder, builder.set_type == "bitmap:port")
        if kind == "iface":
            physdev = text.startswith("physdev:")
            name = unbracket(text[8:] if physdev else text)
            if not name or len(name) > 15:
                raise self.error(lineno, col, f"bad interface name {text!r} (1-15 characters)")
            return Interface(name, physdev)
        mark = strtoul(text)
        if mark is None or mark > 0xFFFFFFFF:
            raise self.error(lineno, col, f"bad mark {text!r}: expected a 32-bit number")
        return mark

    def _address_part(self, builder: SetBuilder, kind: str, text: str, col: int,
                      lineno: int) -> Network | AddressRange:
        pieces = split_outside_brackets(text, "-")
        if len(pieces) == 2:
            first, last = self._span(builder, text, col, lineno)
            if first.version == 6:
                raise self.error(lineno, col, f"IPv6 ranges are not supported by ipset: {text!r}")
            return AddressRange(first, last)
        address_text, sep, prefix_text = text.partition("/")
        address = self._address(builder, address_text, col, lineno)
        limit: int = address.max_prefixlen
        prefix = limit
        if sep:
            if not prefix_text.isdigit() or int(prefix_text) > limit:
                raise self.error(lineno, col + len(address_text) + 1,
                                 f"bad prefix length {prefix_text!r}")
            prefix = int(prefix_text)
        if address.version == 6 and kind == "ip" and prefix != limit:
            raise self.error(lineno, col, f"plain IPv6 address expected in {builder.set_type}: "
                             f"{text!r}")
        if prefix == 0 and (kind == "net" or builder.set_type.startswith("hash:")) and \
                builder.set_type != "hash:net,port,net":
            raise self.error(lineno, col, f"zero prefix length is not allowed in "
                             f"{builder.set_type}: {text!r}")
        if address.version == 4:
            return ipaddress.IPv4Network((int(address), prefix), strict=False)
        return ipaddress.IPv6Network((int(address), prefix), strict=False)

    def _span(self, builder: SetBuilder, text: str, col: int,
              lineno: int) -> tuple[Address, Address]:
        """An `a-b` range or a CIDR as first and last address (a > b is swapped, as ipset does)."""
        pieces = split_outside_brackets(text, "-")
        if len(pieces) == 2:
            first = self._address(builder, pieces[0][0], col, lineno)
            last = self._address(builder, pieces[1][0], col + pieces[1][1], lineno)
            return (first, last) if first <= last else (last, first)  # type: ignore[operator]
        network = self._address_part(builder, "ip", text, col, lineno)
        assert not isinstance(network, AddressRange)
        return network[0], network[-1]

    def _address(self, builder: SetBuilder, text: str, col: int, lineno: int) -> Address:
        inner = unbracket(text)
        if builder.infer_family and builder.family is not None:
            builder.family = "inet6" if ":" in inner else "inet"
            builder.infer_family = False
            self.warn(lineno, f"set {builder.name!r} has no family in its header; "
                      f"{builder.family} inferred from its members")
        family = builder.family or ("inet6" if ":" in inner else "inet")
        try:
            if family == "inet6":
                return ipaddress.IPv6Address(inner)
            return self._ipv4(inner, col, lineno)
        except ipaddress.AddressValueError:
            raise self.error(lineno, col, f"bad {family} address {text!r}") from None

    def _ipv4(self, text: str, col: int, lineno: int) -> ipaddress.IPv4Address:
        """Read an IPv4 address the way inet_aton does (`10.1` is 10.0.0.1), but not hex."""
        try:
            packed = socket.inet_pton(socket.AF_INET, text)
            if not _LEADING_ZERO.search(text):
                return ipaddress.IPv4Address(int.from_bytes(packed, "big"))
        except (OSError, ValueError):  # ValueError: a NUL in the text
            pass
        parts = text.split(".")
        numbers = [strtoul(p) if p and not p.lower().startswith("0x") else None for p in parts]
        if not 1 <= len(parts) <= 4 or any(n is None for n in numbers):
            raise ipaddress.AddressValueError(text)
        values = [n for n in numbers if n is not None]
        head, tail = values[:-1], values[-1]
        if any(v > 255 for v in head) or tail >= 1 << (8 * (5 - len(values))):
            raise ipaddress.AddressValueError(text)
        number = tail
        for i, v in enumerate(head):
            number |= v << (24 - 8 * i)
        address = ipaddress.IPv4Address(number)
        self.warn(lineno, f"abbreviated IPv4 address {text!r} read as {address}, as ipset does")
        return address

    def _mac(self, text: str, col: int, lineno: int) -> str:
        parts = text.split(":")
        try:
            octets = [int(p, 16) for p in parts if 1 <= len(p) <= 2]
        except ValueError:
            octets = []
        if len(parts) != 6 or len(octets) != 6:
            raise self.error(lineno, col, f"bad MAC address {text!r}")
        if not any(octets):
            raise self.error(lineno, col, "zero MAC address cannot be stored")
        return ":".join(f"{o:02x}" for o in octets)

    def _port(self, text: str, col: int, lineno: int, builder: SetBuilder,
              bitmap: bool = False) -> PortValue:
        pieces = split_outside_brackets(text, ":", 1)
        proto = 6
        rest, rest_col = text, col
        if len(pieces) == 2:
            name = pieces[0][0].lower()
            number = PROTOCOLS.get(name, strtoul(name) if name.isdigit() else None)
            if number is None or not 0 < number < 256:
                raise self.error(lineno, col, f"unknown or zero protocol {pieces[0][0]!r}")
            proto, rest, rest_col = number, pieces[1][0], col + pieces[1][1]
        if bitmap and proto not in (6, 17):
            raise self.error(lineno, col, "bitmap:port accepts tcp and udp ports only")
        if proto in (ICMP, ICMPV6):
            return self._icmp(builder, proto, rest, rest_col, lineno)
        if proto not in PORT_PROTOCOLS:
            if rest != "0":
                raise self.error(lineno, rest_col, f"protocol {PROTO_NAMES.get(proto, proto)} "
                                 "can be used with pseudo port value 0 only")
            return PortValue(proto, 0, 0)
        bounds = split_outside_brackets(rest, "-")
        if len(bounds) > 2:
            raise self.error(lineno, rest_col, f"bad port range {rest!r}")
        numbers = [self._port_number(b, rest_col + o, lineno) for b, o in bounds]
        first, last = min(numbers), max(numbers)
        return PortValue(None if bitmap else proto, first, last)

    def _port_number(self, text: str, col: int, lineno: int) -> int:
        name = unbracket(text)
        number = int(name) if name.isdigit() else SERVICES.get(name.lower())
        if number is None or number > 65535:
            raise self.error(lineno, col, f"bad port {text!r}: a number 0-65535 or a known "
                             "service name")
        return number

    def _icmp(self, builder: SetBuilder, proto: int, text: str, col: int,
              lineno: int) -> PortValue:
        v6 = proto == ICMPV6
        if builder.family is not None and builder.family != ("inet6" if v6 else "inet"):
            raise self.error(lineno, col, f"protocol {'ICMPv6' if v6 else 'ICMP'} can be used "
                             f"with family {'inet6' if v6 else 'inet'} only")
        names = ICMPV6_TYPES if v6 else ICMP_TYPES
        pair = names.get(text.lower())
        if pair is None:
            kind, sep, code = text.partition("/")
            if sep and kind.isdigit() and code.isdigit() and int(kind) < 256 and int(code) < 256:
                pair = (int(kind), int(code))
        if pair is None:
            raise self.error(lineno, col, f"cannot parse {text!r} as an "
                             f"{'ICMPv6' if v6 else 'ICMP'} type/code or name")
        value = (pair[0] << 8) | pair[1]
        return PortValue(proto, value, value)
