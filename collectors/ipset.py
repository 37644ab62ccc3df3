"""Parse `ipset save`/`ipset restore` and `ipset list` output into immutable values.

Pure standard library. One call, `parse_ipset_save(text, filename)`, detects the format:
the restore syntax (`create`/`add`/`del`/`flush`/`destroy`/`rename`/`swap`, the ipset 6
letters `-N`/`-A`/... and the ipset 4 type names `iphash`, `nethash`, ...), or the
`Name:`/`Type:`/`Header:`/`Members:` blocks of `ipset list`. Lines that cannot be understood
raise `IpsetParseError` (file:line:col); options that are not known are kept and reported as
`ParseWarning`s. Elements keep what was written: addresses and CIDRs as networks, ranges as
`AddressRange`, ports as `PortValue`, interfaces as `Interface`, MACs as lower-case text,
marks as ints and list:set members as set names. Membership semantics live in
`webapp.engine.ipsets`.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, TypeAlias

from collectors.errors import ParseError, ParseWarning

__all__ = [
    "ICMP_TYPES", "ICMPV6_TYPES", "PORT_PROTOCOLS", "PROTOCOLS", "SERVICES", "SET_TYPES",
    "Address", "AddressRange", "ElementValue", "Interface", "IpSet", "IpSetDump",
    "IpsetParseError", "Network", "ParseError", "ParseWarning", "PortValue", "SetMember",
    "detect_format", "parse_ipset_save",
]

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

# Dimension kinds of every set type, in element order. "ip" is looked up exactly (ranges and
# CIDRs are shorthand for many hosts), "net" by longest prefix with nomatch.
SET_TYPES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType({
    "bitmap:ip": ("ip",),
    "bitmap:ip,mac": ("ip", "mac"),
    "bitmap:port": ("port",),
    "hash:ip": ("ip",),
    "hash:mac": ("mac",),
    "hash:ip,mac": ("ip", "mac"),
    "hash:net": ("net",),
    "hash:net,net": ("net", "net"),
    "hash:ip,port": ("ip", "port"),
    "hash:net,port": ("net", "port"),
    "hash:ip,port,ip": ("ip", "port", "ip"),
    "hash:ip,port,net": ("ip", "port", "net"),
    "hash:ip,mark": ("ip", "mark"),
    "hash:net,port,net": ("net", "port", "net"),
    "hash:net,iface": ("net", "iface"),
    "list:set": ("set",),
})

# ipset 4 type names, still accepted by ipset 6 and 7 (`iptree*` are replaced by hash:ip).
_TYPE_ALIASES: Final = {
    "iphash": "hash:ip", "nethash": "hash:net", "ipporthash": "hash:ip,port",
    "ipportiphash": "hash:ip,port,ip", "ipportnethash": "hash:ip,port,net",
    "ipmap": "bitmap:ip", "portmap": "bitmap:port", "macipmap": "bitmap:ip,mac",
    "setlist": "list:set", "iptree": "hash:ip", "iptreemap": "hash:ip",
}
_NO_FAMILY: Final = frozenset({"hash:mac", "bitmap:port", "list:set"})
_INET_ONLY: Final = frozenset({"bitmap:ip", "bitmap:ip,mac"})

# /etc/protocols (netbase) names that ipset prints and accepts; numbers are accepted too.
PROTOCOLS: Final[Mapping[str, int]] = MappingProxyType({
    "ip": 0, "hopopt": 0, "icmp": 1, "igmp": 2, "ggp": 3, "ipencap": 4, "st": 5, "tcp": 6,
    "egp": 8, "igp": 9, "pup": 12, "udp": 17, "hmp": 20, "xns-idp": 22, "rdp": 27,
    "iso-tp4": 29, "dccp": 33, "xtp": 36, "ddp": 37, "idpr-cmtp": 38, "ipv6": 41,
    "ipv6-route": 43, "ipv6-frag": 44, "idrp": 45, "rsvp": 46, "gre": 47, "esp": 50, "ah": 51,
    "skip": 57, "ipv6-icmp": 58, "icmpv6": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "rspf": 73,
    "vmtp": 81, "eigrp": 88, "ospf": 89, "ax.25": 93, "ipip": 94, "etherip": 97, "encap": 98,
    "pim": 103, "ipcomp": 108, "vrrp": 112, "l2tp": 115, "isis": 124, "sctp": 132, "fc": 133,
    "mobility-header": 135, "udplite": 136, "mpls-in-ip": 137, "manet": 138, "hip": 139,
    "shim6": 140, "wesp": 141, "rohc": 142, "ethernet": 143,
})
_PROTO_NAMES: Final = {n: s for s, n in reversed(list(PROTOCOLS.items())) if s != "icmpv6"}
PORT_PROTOCOLS: Final = frozenset({6, 17, 132, 136})
ICMP, ICMPV6 = 1, 58

# ICMP names of ipset 7 (lib/icmp.c, lib/icmpv6.c), checked against `ipset save` output.
ICMP_TYPES: Final[Mapping[str, tuple[int, int]]] = MappingProxyType({
    "echo-reply": (0, 0), "pong": (0, 0), "network-unreachable": (3, 0),
    "host-unreachable": (3, 1), "protocol-unreachable": (3, 2), "port-unreachable": (3, 3),
    "fragmentation-needed": (3, 4), "source-route-failed": (3, 5), "network-unknown": (3, 6),
    "host-unknown": (3, 7), "network-prohibited": (3, 9), "host-prohibited": (3, 10),
    "tos-network-unreachable": (3, 11), "tos-host-unreachable": (3, 12),
    "communication-prohibited": (3, 13), "host-precedence-violation": (3, 14),
    "precedence-cutoff": (3, 15), "source-quench": (4, 0), "network-redirect": (5, 0),
    "host-redirect": (5, 1), "tos-network-redirect": (5, 2), "tos-host-redirect": (5, 3),
    "echo-request": (8, 0), "ping": (8, 0), "router-advertisement": (9, 0),
    "router-solicitation": (10, 0), "ttl-zero-during-transit": (11, 0),
    "ttl-zero-during-reassembly": (11, 1), "ip-header-bad": (12, 0),
    "required-option-missing": (12, 1), "timestamp-request": (13, 0),
    "timestamp-reply": (14, 0), "address-mask-request": (17, 0), "address-mask-reply": (18, 0),
})
ICMPV6_TYPES: Final[Mapping[str, tuple[int, int]]] = MappingProxyType({
    "no-route": (1, 0), "communication-prohibited": (1, 1), "address-unreachable": (1, 3),
    "port-unreachable": (1, 4), "packet-too-big": (2, 0), "ttl-zero-during-transit": (3, 0),
    "ttl-zero-during-reassembly": (3, 1), "bad-header": (4, 0), "unknown-header-type": (4, 1),
    "unknown-option": (4, 2), "echo-request": (128, 0), "ping": (128, 0),
    "echo-reply": (129, 0), "pong": (129, 0), "router-solicitation": (133, 0),
    "router-advertisement": (134, 0), "neighbour-solicitation": (135, 0),
    "neighbour-advertisement": (136, 0), "redirect": (137, 0),
})

# A few /etc/services names; ipset resolves any, but a parser must not depend on the host.
SERVICES: Final[Mapping[str, int]] = MappingProxyType({
    "ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53,
    "bootps": 67, "bootpc": 68, "tftp": 69, "http": 80, "www": 80, "kerberos": 88,
    "pop3": 110, "sunrpc": 111, "ntp": 123, "netbios-ns": 137, "netbios-dgm": 138,
    "netbios-ssn": 139, "imap": 143, "imap2": 143, "snmp": 161, "snmp-trap": 162, "bgp": 179,
    "ldap": 389, "https": 443, "microsoft-ds": 445, "isakmp": 500, "syslog": 514,
    "submission": 587, "ldaps": 636, "rsync": 873, "imaps": 993, "pop3s": 995,
    "openvpn": 1194, "ms-sql-s": 1433, "nfs": 2049, "mysql": 3306, "ms-wbt-server": 3389,
    "sip": 5060, "postgresql": 5432, "x11": 6000, "http-alt": 8080,
})

_CREATE_FLAGS: Final = frozenset({"counters", "comment", "skbinfo", "forceadd"})
_CREATE_VALUED: Final = frozenset({
    "family", "hashsize", "maxelem", "bucketsize", "initval", "timeout", "netmask", "bitmask",
    "range", "markmask", "size", "revision", "network", "from", "to", "probes", "resize",
})
_IGNORED_OLD_OPTIONS: Final = frozenset({"probes", "resize"})
_MEMBER_FLAGS: Final = frozenset({"nomatch", "wildcard"})
_MEMBER_VALUED: Final = frozenset({
    "timeout", "packets", "bytes", "comment", "skbmark", "skbprio", "skbqueue", "before", "after",
})
_COMMANDS: Final = {
    "create": "create", "-N": "create", "--create": "create", "n": "create",
    "add": "add", "-A": "add", "--add": "add", "a": "add",
    "del": "del", "-D": "del", "--del": "del",
    "test": "test", "-T": "test", "--test": "test",
    "flush": "flush", "-F": "flush", "--flush": "flush",
    "destroy": "destroy", "-X": "destroy", "--destroy": "destroy", "x": "destroy",
    "rename": "rename", "-E": "rename", "--rename": "rename", "e": "rename",
    "swap": "swap", "-W": "swap", "--swap": "swap", "w": "swap",
    "commit": "commit",
}
_GLOBAL_FLAGS: Final = frozenset({"-exist", "--exist", "-!", "-quiet", "--quiet", "-q"})
_LIST_KEYS: Final = frozenset({
    "name", "type", "revision", "header", "size in memory", "references", "number of entries",
    "members", "default binding", "bindings",
})


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
            return f"{_PROTO_NAMES[self.proto]}:{self.first >> 8}/{self.first & 0xFF}"
        ports = str(self.first) if self.first == self.last else f"{self.first}-{self.last}"
        if self.proto is None:
            return ports
        return f"{_PROTO_NAMES.get(self.proto, self.proto)}:{ports}"


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
class SetMember:
    """One element of a set with its per-element options, from one line of the dump."""

    values: tuple[ElementValue, ...]
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
    line: int = 0


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


def parse_ipset_save(text: str, filename: str = "<input>") -> IpSetDump:
    """Parse `ipset save` / restore input or `ipset list` output (detected) into an IpSetDump."""
    return _Parser(filename).parse(text)


def detect_format(text: str) -> str:
    """The dump's format: `list` if it opens with `Name: ...`, `xml` for `-o xml`, else `save`."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith("name:"):
            return "list"
        return "xml" if line.startswith("<") else "save"
    return "save"


class _SetBuilder:
    """A set while its dump is being read; frozen into an IpSet at the end."""

    def __init__(self, name: str, set_type: str, line: int) -> None:
        self.name = name
        self.set_type = set_type
        self.line = line
        self.family: str | None = None if set_type in _NO_FAMILY else "inet"
        self.infer_family = False
        self.options: dict[str, object] = {}
        self.members: list[SetMember] = []
        self.revision: int | None = None

    def freeze(self) -> IpSet:
        return IpSet(self.name, self.set_type, self.family, MappingProxyType(dict(self.options)),
                     tuple(self.members), self.line, self.revision)


Tokens: TypeAlias = list[tuple[str, int]]


_LEADING_ZERO = re.compile(r"(?:^|\.)0\d")


def _tokenize(line: str, filename: str, lineno: int) -> Tokens:
    """Split on blanks; a double-quoted word is one token without its quotes (no escapes)."""
    tokens: Tokens = []
    if '"' not in line:
        at = 0
        for word in line.split():
            at = line.index(word, at)
            tokens.append((word, at + 1))
            at += len(word)
        return tokens
    i, n = 0, len(line)
    while i < n:
        if line[i] in " \t\r\f\v":
            i += 1
            continue
        start = i
        if line[i] == '"':
            end = line.find('"', i + 1)
            if end < 0:
                raise IpsetParseError(filename, lineno, start + 1, "unterminated quoted string")
            tokens.append((line[i + 1:end], start + 1))
            i = end + 1
            continue
        while i < n and line[i] not in " \t\r\f\v":
            i += 1
        tokens.append((line[start:i], start + 1))
    return tokens


def _split(text: str, sep: str, maxsplit: int = -1) -> list[tuple[str, int]]:
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


def _plain_ipv4_network(text: str) -> ipaddress.IPv4Network | None:
    """`a.b.c.d` or `a.b.c.d/p` in canonical form, without the general parser's checks."""
    address, _, prefix = text.partition("/")
    if prefix and not (prefix.isdigit() and 0 < int(prefix) <= 32 and len(prefix) <= 2):
        return None
    try:
        packed = socket.inet_pton(socket.AF_INET, address)
    except OSError:
        return None
    if _LEADING_ZERO.search(address):
        return None
    return ipaddress.IPv4Network((int.from_bytes(packed, "big"), int(prefix or 32)), strict=False)


def _unbracket(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == "[" and text[-1] == "]" else text


def _strtoul(text: str) -> int | None:
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


class _Parser:
    """Reads one dump; holds the sets by name and the warnings met so far."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.sets: dict[str, _SetBuilder] = {}
        self.warnings: list[ParseWarning] = []
        self._warned: set[tuple[str, str]] = set()

    # -- reporting ---------------------------------------------------------------------------
    def error(self, line: int, column: int, reason: str) -> IpsetParseError:
        return IpsetParseError(self.filename, line, column, reason)

    def warn(self, line: int, message: str, once_per: str | None = None) -> None:
        """Record a warning; with `once_per`, only its first occurrence in that scope."""
        if once_per is not None:
            key = (once_per, message)
            if key in self._warned:
                return
            self._warned.add(key)
            message += " (reported once per set)"
        self.warnings.append(ParseWarning(self.filename, line, message))

    # -- driver ------------------------------------------------------------------------------
    def parse(self, text: str) -> IpSetDump:
        fmt = detect_format(text)
        if fmt == "xml":
            raise self.error(1, 1, "ipset XML output (-o xml) is not supported; use ipset save")
        lines = text.splitlines()
        if fmt == "list":
            self._parse_list(lines)
        else:
            for lineno, raw in enumerate(lines, 1):
                self._save_line(raw, lineno)
        self._check_list_references()
        sets = {name: builder.freeze() for name, builder in self.sets.items()}
        return IpSetDump(MappingProxyType(sets), tuple(self.warnings), self.filename, fmt)

    def _check_list_references(self) -> None:
        for builder in self.sets.values():
            if builder.set_type != "list:set":
                continue
            for member in builder.members:
                target = self.sets.get(str(member.values[0]))
                if target is None:
                    self.warn(member.line, f"list:set {builder.name!r} names set "
                              f"{member.values[0]!r}, which is not in this dump")
                elif target.set_type == "list:set":
                    self.warn(member.line, f"list:set {builder.name!r} contains list:set "
                              f"{target.name!r}; the kernel refuses this and never matches it")

    # -- restore syntax ----------------------------------------------------------------------
    def _save_line(self, raw: str, lineno: int) -> None:
        tokens = _tokenize(raw, self.filename, lineno)
        # `-exist` and friends may stand before or right after the command, or at the end.
        while tokens and tokens[0][0] in _GLOBAL_FLAGS:
            tokens.pop(0)
        while len(tokens) > 1 and tokens[1][0] in _GLOBAL_FLAGS:
            tokens.pop(1)
        while tokens and tokens[-1][0] in _GLOBAL_FLAGS:
            tokens.pop()
        if not tokens or tokens[0][0].startswith("#"):
            return
        word, col = tokens[0]
        command = _COMMANDS.get(word) or _COMMANDS.get(word.lower())
        if command is None:
            raise self.error(lineno, col, f"unknown ipset command {word!r}")
        args = tokens[1:]
        if command == "commit":
            return
        if command == "create":
            self._create(args, lineno, col)
        elif command in ("add", "del", "test"):
            self._add_del(command, args, lineno, col)
        elif command in ("flush", "destroy"):
            self._flush_destroy(command, args, lineno)
        else:
            self._rename_swap(command, args, lineno, col)

    def _need(self, args: Tokens, count: int, lineno: int, col: int, what: str) -> None:
        if len(args) < count:
            end = args[-1][1] + len(args[-1][0]) if args else col
            raise self.error(lineno, end, f"missing {what}")

    def _lookup(self, name: str, lineno: int, col: int) -> _SetBuilder:
        builder = self.sets.get(name)
        if builder is None:
            raise self.error(lineno, col, f"set {name!r} is not defined")
        return builder

    def _create(self, args: Tokens, lineno: int, col: int) -> None:
        self._need(args, 2, lineno, col, "set name and type after create")
        (name, _), (type_text, type_col) = args[0], args[1]
        builder = _SetBuilder(name, self._set_type(type_text, lineno, type_col), lineno)
        self._apply_create_options(builder, args[2:], lineno)
        old = self.sets.get(name)
        if old is not None:
            self.warn(lineno, f"set {name!r} is created again (first at line {old.line}); "
                      "the first definition and its members are kept, as `restore -exist` does")
            return
        self.sets[name] = builder

    def _set_type(self, text: str, lineno: int, col: int) -> str:
        key = text.lower()
        if key in SET_TYPES:
            return key
        if key in _TYPE_ALIASES:
            if key.startswith("iptree"):
                self.warn(lineno, f"set type {text!r} was removed from ipset; read as hash:ip")
            return _TYPE_ALIASES[key]
        raise self.error(lineno, col, f"unknown set type {text!r}")

    def _add_del(self, command: str, args: Tokens, lineno: int, col: int) -> None:
        self._need(args, 2, lineno, col, f"set name and element after {command}")
        builder = self._lookup(args[0][0], lineno, args[0][1])
        member, position = self._member(builder, args[1:], lineno)
        if command == "test":
            self.warn(lineno, "`test` in a restore file changes nothing; ignored")
        elif command == "add":
            self._insert(builder, member, position, lineno)
        else:
            kept = [m for m in builder.members if m.values != member.values]
            if len(kept) == len(builder.members):
                self.warn(lineno, f"del of {args[1][0]!r}, which is not in set {builder.name!r}")
            builder.members = kept

    def _insert(self, builder: _SetBuilder, member: SetMember,
                position: tuple[str, str, int] | None, lineno: int) -> None:
        if position is None:
            builder.members.append(member)
            return
        where, ref, _ = position
        names = [m.values[0] for m in builder.members]
        if ref not in names:
            self.warn(lineno, f"{where} {ref!r}: no such member in {builder.name!r}; appended")
            builder.members.append(member)
            return
        index = names.index(ref) + (1 if where == "after" else 0)
        builder.members.insert(index, member)

    def _flush_destroy(self, command: str, args: Tokens, lineno: int) -> None:
        targets = [self._lookup(a[0], lineno, a[1]) for a in args[:1]] or list(self.sets.values())
        for builder in targets:
            if command == "flush":
                builder.members = []
            else:
                del self.sets[builder.name]

    def _rename_swap(self, command: str, args: Tokens, lineno: int, col: int) -> None:
        self._need(args, 2, lineno, col, f"two set names after {command}")
        first = self._lookup(args[0][0], lineno, args[0][1])
        if command == "rename":
            new_name, new_col = args[1]
            if new_name in self.sets:
                raise self.error(lineno, new_col, f"cannot rename to {new_name!r}: it exists")
            first.name = new_name
            self.sets = {(new_name if k == args[0][0] else k): v for k, v in self.sets.items()}
            return
        second = self._lookup(args[1][0], lineno, args[1][1])
        first.name, second.name = second.name, first.name
        self.sets[first.name], self.sets[second.name] = first, second

    # -- ipset list output -------------------------------------------------------------------
    def _parse_list(self, lines: list[str]) -> None:
        block: _SetBuilder | None = None
        pending: dict[str, tuple[str, int]] = {}
        in_members = in_bindings = False
        for lineno, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                in_members = in_members and bool(line)
                continue
            key, sep, value = line.partition(":")
            key = key.strip().lower()
            if in_members and key != "name" and key != "bindings":
                assert block is not None
                tokens = _tokenize(raw, self.filename, lineno)
                member, position = self._member(block, tokens, lineno)
                self._insert(block, member, position, lineno)
                continue
            if in_bindings and key != "name":
                self.warn(lineno, "ipset 4 binding ignored")
                continue
            if not sep or key not in _LIST_KEYS:
                raise self.error(lineno, 1, f"expected a `Name:`/`Type:`/... line, got {line!r}")
            value = value.strip()
            in_members = in_bindings = False
            if key == "name":
                block, pending = None, {"name": (value, lineno)}
            elif key == "type":
                if "name" not in pending:
                    raise self.error(lineno, 1, "`Type:` line before any `Name:` line")
                name, name_line = pending["name"]
                col = raw.index(":") + 2
                block = _SetBuilder(name, self._set_type(value, lineno, col), name_line)
                block.infer_family = block.set_type not in _NO_FAMILY | _INET_ONLY
                self._register_listed(block, name_line)
            elif block is None:
                raise self.error(lineno, 1, f"`{key}` line before the set's `Type:` line")
            elif key == "header":
                offset = raw.index(":") + 1
                tokens = [(t, c + offset) for t, c in _tokenize(raw[offset:], self.filename,
                                                                  lineno)]
                tokens = [(t.rstrip(":"), c) for t, c in tokens]
                self._apply_create_options(block, tokens, lineno)
            elif key == "revision":
                block.revision = _strtoul(value)
            elif key == "members":
                in_members = True
            elif key == "bindings":
                in_bindings = True

    def _register_listed(self, block: _SetBuilder, lineno: int) -> None:
        old = self.sets.get(block.name)
        if old is not None:
            self.warn(lineno, f"set {block.name!r} is listed again (first at line {old.line}); "
                      "the later listing replaces the earlier one")
            del self.sets[block.name]
        self.sets[block.name] = block

    # -- create options ----------------------------------------------------------------------
    def _apply_create_options(self, builder: _SetBuilder, tokens: Tokens, lineno: int) -> None:
        pairs: list[tuple[str, str | None, int]] = []
        i = 0
        while i < len(tokens):
            raw, col = tokens[i]
            key = raw.lstrip("-").lower()
            if key in _CREATE_FLAGS:
                pairs.append((key, None, col))
                i += 1
            elif key in _CREATE_VALUED:
                if i + 1 >= len(tokens):
                    raise self.error(lineno, col, f"option {key!r} needs a value")
                pairs.append((key, tokens[i + 1][0], tokens[i + 1][1]))
                i += 2
            else:
                value = None
                if i + 1 < len(tokens) and not self._is_option_word(tokens[i + 1][0]):
                    value = tokens[i + 1][0]
                    i += 1
                i += 1
                self.warn(lineno, f"unknown create option {raw!r}"
                          + (f" with value {value!r}" if value is not None else "") + "; kept")
                builder.options[raw] = value if value is not None else True
        for key, value, col in pairs:
            if key == "family":
                builder.family = self._family(builder, value or "", lineno, col)
                builder.infer_family = False
        old_from = old_to = None
        for key, value, col in pairs:
            if value is None:
                builder.options[key] = True
            elif key in _IGNORED_OLD_OPTIONS:
                self.warn(lineno, f"ipset 4 option {key!r} is ignored by ipset")
            elif key == "from":
                old_from = (value, col)
            elif key == "to":
                old_to = (value, col)
            elif key != "family":
                key = "range" if key == "network" else key
                builder.options[key] = self._create_value(builder, key, value, col, lineno)
        if builder.family is not None:
            builder.options["family"] = builder.family
        if old_from and old_to:
            text = f"{old_from[0]}-{old_to[0]}"
            builder.options["range"] = self._create_value(builder, "range", text, old_from[1],
                                                          lineno)
        elif old_from or old_to:
            self.warn(lineno, "ipset 4 option --from without --to (or the reverse); ignored")

    @staticmethod
    def _is_option_word(word: str) -> bool:
        key = word.lstrip("-").lower()
        return key in _CREATE_FLAGS or key in _CREATE_VALUED

    def _family(self, builder: _SetBuilder, value: str, lineno: int, col: int) -> str:
        family = {"inet": "inet", "ipv4": "inet", "inet6": "inet6", "ipv6": "inet6"}.get(
            value.lower())
        if family is None:
            raise self.error(lineno, col, f"unknown family {value!r}")
        if builder.set_type in _NO_FAMILY:
            self.warn(lineno, f"family has no meaning for {builder.set_type}; ignored")
            return builder.family or family
        if builder.set_type in _INET_ONLY and family != "inet":
            raise self.error(lineno, col, f"{builder.set_type} supports family inet only")
        return family

    def _create_value(self, builder: _SetBuilder, key: str, value: str, col: int,
                      lineno: int) -> object:
        if key == "range":
            if builder.set_type == "bitmap:port":
                port = self._port(value, col, lineno, builder, bitmap=True)
                return (port.first, port.last)
            first, last = self._span(builder, value, col, lineno)
            return AddressRange(first, last)
        if key == "bitmask":
            return self._address(builder, value, col, lineno)
        number = _strtoul(value)
        if number is None:
            self.warn(lineno, f"option {key!r} has value {value!r}, which is not a number; "
                      "kept as text", once_per=builder.name)
            return value
        limit = 128 if builder.family == "inet6" else 32
        if key == "netmask" and not 1 <= number <= limit:
            raise self.error(lineno, col, f"netmask {number} is out of range 1-{limit}")
        return number

    # -- members -----------------------------------------------------------------------------
    def _member(self, builder: _SetBuilder, tokens: Tokens,
                lineno: int) -> tuple[SetMember, tuple[str, str, int] | None]:
        text, col = tokens[0]
        values = self._element(builder, text, col, lineno)
        if len(tokens) == 1:
            return SetMember(values, line=lineno), None
        fields: dict[str, object] = {}
        extra: list[tuple[str, str | None]] = []
        position: tuple[str, str, int] | None = None
        i = 1
        while i < len(tokens):
            word, wcol = tokens[i]
            key = word.lower()
            if key in _MEMBER_FLAGS:
                if key == "nomatch" and "net" not in SET_TYPES[builder.set_type]:
                    self.warn(lineno, f"nomatch has no effect in {builder.set_type} sets "
                              "(ipset refuses it); ignored")
                else:
                    fields[key] = True
                i += 1
                continue
            if key not in _MEMBER_VALUED:
                value = None
                if i + 1 < len(tokens) and tokens[i + 1][0].lower() not in (
                        _MEMBER_FLAGS | _MEMBER_VALUED):
                    value = tokens[i + 1][0]
                    i += 1
                i += 1
                self.warn(lineno, f"unknown element option {word!r}"
                          + (f" with value {value!r}" if value is not None else "") + "; kept")
                extra.append((word, value))
                continue
            if i + 1 >= len(tokens):
                raise self.error(lineno, wcol, f"element option {key!r} needs a value")
            value, vcol = tokens[i + 1]
            i += 2
            if key in ("before", "after"):
                position = (key, value, vcol)
            elif key == "comment":
                fields["comment"] = value
            elif key == "skbmark":
                fields["skbmark"] = self._skbmark(value, vcol, lineno)
            elif key == "skbprio":
                fields["skbprio"] = self._skbprio(value, vcol, lineno)
            else:
                number = _strtoul(value) if key != "timeout" or value.isdigit() else None
                if number is None:
                    self.warn(lineno, f"element option {key!r} has value {value!r}, which is "
                              "not a number; ignored", once_per=builder.name)
                else:
                    fields[key] = number
        if position is not None and builder.set_type != "list:set":
            raise self.error(lineno, position[2], "before/after apply to list:set only")
        member = SetMember(values=values, extra=tuple(extra), line=lineno,
                           **fields)  # type: ignore[arg-type]
        return member, position

    def _skbmark(self, value: str, col: int, lineno: int) -> tuple[int, int]:
        mark_text, _, mask_text = value.partition("/")
        mark = _strtoul(mark_text)
        mask = _strtoul(mask_text) if mask_text else 0xFFFFFFFF
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

    def _element(self, builder: _SetBuilder, text: str, col: int,
                 lineno: int) -> tuple[ElementValue, ...]:
        kinds = SET_TYPES[builder.set_type]
        if kinds == ("set",):
            return (text,)
        if len(kinds) == 1 and builder.family == "inet" and not builder.infer_family:
            fast = _plain_ipv4_network(text)
            if fast is not None:
                return (fast,)
        parts = _split(text, ",", len(kinds) - 1)
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

    def _part(self, builder: _SetBuilder, kind: str, text: str, col: int,
              lineno: int) -> ElementValue:
        if kind in ("ip", "net"):
            return self._address_part(builder, kind, text, col, lineno)
        if kind == "mac":
            return self._mac(text, col, lineno) if text else None
        if kind == "port":
            return self._port(text, col, lineno, builder, builder.set_type == "bitmap:port")
        if kind == "iface":
            physdev = text.startswith("physdev:")
            name = _unbracket(text[8:] if physdev else text)
            if not name or len(name) > 15:
                raise self.error(lineno, col, f"bad interface name {text!r} (1-15 characters)")
            return Interface(name, physdev)
        mark = _strtoul(text)
        if mark is None or mark > 0xFFFFFFFF:
            raise self.error(lineno, col, f"bad mark {text!r}: expected a 32-bit number")
        return mark

    def _address_part(self, builder: _SetBuilder, kind: str, text: str, col: int,
                      lineno: int) -> Network | AddressRange:
        pieces = _split(text, "-")
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

    def _span(self, builder: _SetBuilder, text: str, col: int,
              lineno: int) -> tuple[Address, Address]:
        """An `a-b` range or a CIDR as first and last address (a > b is swapped, as ipset does)."""
        pieces = _split(text, "-")
        if len(pieces) == 2:
            first = self._address(builder, pieces[0][0], col, lineno)
            last = self._address(builder, pieces[1][0], col + pieces[1][1], lineno)
            return (first, last) if first <= last else (last, first)  # type: ignore[operator]
        network = self._address_part(builder, "ip", text, col, lineno)
        assert not isinstance(network, AddressRange)
        return network[0], network[-1]

    def _address(self, builder: _SetBuilder, text: str, col: int, lineno: int) -> Address:
        inner = _unbracket(text)
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
        except OSError:
            pass
        parts = text.split(".")
        numbers = [_strtoul(p) if p and not p.lower().startswith("0x") else None for p in parts]
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

    def _port(self, text: str, col: int, lineno: int, builder: _SetBuilder,
              bitmap: bool = False) -> PortValue:
        pieces = _split(text, ":", 1)
        proto = 6
        rest, rest_col = text, col
        if len(pieces) == 2:
            name = pieces[0][0].lower()
            number = PROTOCOLS.get(name, _strtoul(name) if name.isdigit() else None)
            if number is None or not 0 < number < 256:
                raise self.error(lineno, col, f"unknown or zero protocol {pieces[0][0]!r}")
            proto, rest, rest_col = number, pieces[1][0], col + pieces[1][1]
        if bitmap and proto not in (6, 17):
            raise self.error(lineno, col, "bitmap:port accepts tcp and udp ports only")
        if proto in (ICMP, ICMPV6):
            return self._icmp(builder, proto, rest, rest_col, lineno)
        if proto not in PORT_PROTOCOLS:
            if rest != "0":
                raise self.error(lineno, rest_col, f"protocol {_PROTO_NAMES.get(proto, proto)} "
                                 "can be used with pseudo port value 0 only")
            return PortValue(proto, 0, 0)
        bounds = _split(rest, "-")
        if len(bounds) > 2:
            raise self.error(lineno, rest_col, f"bad port range {rest!r}")
        numbers = [self._port_number(b, rest_col + o, lineno) for b, o in bounds]
        first, last = min(numbers), max(numbers)
        return PortValue(None if bitmap else proto, first, last)

    def _port_number(self, text: str, col: int, lineno: int) -> int:
        name = _unbracket(text)
        number = int(name) if name.isdigit() else SERVICES.get(name.lower())
        if number is None or number > 65535:
            raise self.error(lineno, col, f"bad port {text!r}: a number 0-65535 or a known "
                             "service name")
        return number

    def _icmp(self, builder: _SetBuilder, proto: int, text: str, col: int,
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

