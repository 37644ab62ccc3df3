"""Membership of a packet in an ipset, decided as the kernel's `-m set --match-set` does.

`compile_sets(dump)` turns a parsed dump into a `SetIndex`; `SetIndex.match3(name, dims)`
answers True, False or None (the answer depends on a value the packet description leaves
unknown), and `match` answers True or False. `dims` has one entry per `src`/`dst` flag of the
rule, in order: either the field value the set dimension needs (an `IPv4Address`/`IPv6Address`,
a `(protocol, port)` tuple with ICMP as `(type << 8) | code`, a MAC text, an interface name or
`Interface`, an int mark) or an `Endpoint` carrying all of one side's fields, which lets each
member of a list:set pick the field its own type needs. `None` stands for unknown.

Kernel behaviour reproduced (net/netfilter/ipset, checked with `ipset test` on Linux 6.18):
fewer flags than the set's dimension or another address family never match; hash types with
`net` parts try the most specific prefix first (first part's prefix has precedence) and a
`nomatch` entry found first ends the lookup without a match; `--return-nomatch` swaps the two;
`netmask`/`bitmask` mask stored and packet addresses alike; marks are ANDed with `markmask`;
bitmap:port matches TCP and UDP only; bitmap:ip,mac entries without a MAC match any MAC;
MAC types never match a packet without a MAC header; hash:net,iface stops at the most specific
prefix that holds the packet's network with any interface; list:set tries member sets in order
and matches at the first member that matches. Timeouts and counters are ignored: at dump time
every listed element is present.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from types import MappingProxyType
from typing import Any, Final

from collectors.ipset import (
    ICMP,
    ICMPV6,
    PORT_PROTOCOLS,
    AddressRange,
    Interface,
    IpSet,
    IpSetDump,
    ParseWarning,
    PortValue,
    parse_ipset_save,
)
from webapp.engine.iptables.setlookup import NO_MAC, Endpoint, SetLookup

"""Pass as a MAC when the packet has no MAC header (e.g. OUTPUT): MAC sets never match it."""

_TCP_UDP: Final = frozenset({6, 17})
_ADDRESS_KINDS: Final = frozenset({"ip", "net"})


class UndeterminedMatch(LookupError):
    """`SetIndex.match` was asked for a verdict that depends on an unknown packet field."""


class _Absent:
    """A field the packet cannot provide (no MAC header): the kernel refuses the lookup."""


_ABSENT: Final = _Absent()


class _DoesNotFit(TypeError):
    """A raw dimension value of a type the set's dimension cannot use."""


def _mask(prefix: int, width: int) -> int:
    return ((1 << width) - 1) ^ ((1 << (width - prefix)) - 1)


def _blocks(value: object) -> list[tuple[int, int]]:
    """An element's address part as aligned (prefix, base) blocks."""
    if isinstance(value, AddressRange):
        networks = value.networks()
    elif isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        networks = (value,)
    else:
        raise TypeError(f"not an address part: {value!r}")
    return [(n.prefixlen, int(n.network_address)) for n in networks]


def _masked_blocks(value: object, mask: int, width: int, bitmap: bool) -> list[tuple[int, int]]:
    """Blocks of the masked addresses an `ip` element adds under a netmask/bitmask.

    hash:ip and hash:ip,port mask the first address only, then store every address (or block
    start) up to the unmasked end; bitmap:ip steps one block at a time from the unmasked start,
    so the block of the range's end is left out when the steps miss it.
    """
    if isinstance(value, AddressRange):
        low, high, single = int(value.first), int(value.last), False
    elif isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        low, high = int(value.network_address), int(value.broadcast_address)
        single = value.prefixlen == width
    else:
        raise TypeError(f"not an address part: {value!r}")
    if bitmap:
        step = ((1 << width) - 1 ^ mask) + 1
        low, high = low & mask, (low + (high - low) // step * step) & mask
    elif single:
        low = high = low & mask
    elif isinstance(value, AddressRange):
        low &= mask
    else:
        low, high = low & mask, (low & mask) | (high - low)
    first = ipaddress.ip_address(low) if width == 32 else ipaddress.IPv6Address(low)
    last = ipaddress.ip_address(high) if width == 32 else ipaddress.IPv6Address(high)
    return _blocks(AddressRange(first, last))


def _mac_number(text: str) -> int | _Absent:
    if text == NO_MAC:
        return _ABSENT
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6:
        raise ValueError(f"bad MAC address {text!r}")
    number = int("".join(p.zfill(2) for p in parts), 16)
    return number if number else _ABSENT


def _normalize(kind: str, raw: object) -> object:
    """The lookup form of one packet field for a dimension kind; None when unknown."""
    if isinstance(raw, Endpoint):
        raw = {"ip": raw.address, "net": raw.address, "port": raw.port, "mac": raw.mac,
               "iface": raw.iface, "mark": raw.mark}.get(kind)
    if raw is None:
        return None
    if kind in _ADDRESS_KINDS:
        if isinstance(raw, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            return (raw.version, int(raw))
        if isinstance(raw, tuple) and len(raw) == 2 and raw[0] in (4, 6) and (
                raw[1] is None or type(raw[1]) is int):
            return raw
    elif kind == "port":
        if isinstance(raw, tuple) and len(raw) == 2 and type(raw[0]) is int and (
                raw[1] is None or type(raw[1]) is int):
            proto, port = raw
            # The kernel reads port 0 for protocols without ports (ip_set_get_ip4_port).
            has_port = proto in PORT_PROTOCOLS or proto in (ICMP, ICMPV6)
            return (proto, port if has_port else 0)
    elif kind == "mac":
        if isinstance(raw, str):
            return _mac_number(raw)
    elif kind == "iface":
        if isinstance(raw, Interface):
            return raw
        if isinstance(raw, str):
            return Interface(raw)
    elif kind == "mark":
        if type(raw) is int:
            return raw & 0xFFFFFFFF
    raise _DoesNotFit(f"{raw!r} does not fit a {kind} dimension")


class _HashMatcher:
    """Every hash:* type but hash:net,iface, and bitmap:ip and bitmap:port, as prefix tables."""

    __slots__ = ("kinds", "dimension", "version", "nomatch", "_shapes", "_single", "_range",
                 "_bitmap_port", "_markmask", "_pre_masks")

    def __init__(self, ipset: IpSet) -> None:
        kinds = ipset.dimensions
        self.kinds = kinds
        self.dimension = len(kinds)
        self.version = {"inet": 4, "inet6": 6}.get(ipset.family or "")
        self.nomatch = "net" in kinds
        self._single = len(kinds) == 1
        self._bitmap_port = ipset.set_type == "bitmap:port"
        width = 128 if self.version == 6 else 32
        dim_masks, self._pre_masks = self._dim_masks(ipset, width)
        markmask = ipset.options.get("markmask", 0xFFFFFFFF)
        self._markmask = markmask if isinstance(markmask, int) else 0xFFFFFFFF
        self._range = self._bitmap_range(ipset, self._pre_masks[0] or (1 << width) - 1)
        tables: dict[tuple[int, ...], dict[object, int]] = {}
        simple = self._single and kinds[0] in _ADDRESS_KINDS and self._pre_masks[0] is None
        for member in ipset.members:
            value = member.values[0]
            if simple and isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
                # The common case (one address part, one CIDR) without the general product.
                base = int(value.network_address) & dim_masks[0]
                tables.setdefault((value.prefixlen,), {})[base] = (
                    -1 if member.nomatch and self.nomatch else 1)
                continue
            atoms: list[list[tuple[int | None, object]]] = []
            for i, (kind, value) in enumerate(zip(kinds, member.values, strict=True)):
                if kind in _ADDRESS_KINDS:
                    pre_mask = self._pre_masks[i]
                    blocks = _blocks(value) if pre_mask is None else _masked_blocks(
                        value, pre_mask, width, ipset.set_type == "bitmap:ip")
                    atoms.append([(p, base & dim_masks[i]) for p, base in blocks])
                elif kind == "port":
                    assert isinstance(value, PortValue)
                    ports = range(value.first, value.last + 1)
                    if self._bitmap_port:
                        atoms.append([(None, port) for port in ports])
                    else:
                        atoms.append([(None, (value.proto, port)) for port in ports])
                elif kind == "mac":
                    assert isinstance(value, str)
                    atoms.append([(None, _mac_number(value))])
                else:
                    assert isinstance(value, int)
                    atoms.append([(None, value & self._markmask)])
            outcome = -1 if member.nomatch and self.nomatch else 1
            for combo in product(*atoms):
                shape = tuple(p for p, _ in combo if p is not None)
                key = combo[0][1] if self._single else tuple(a for _, a in combo)
                tables.setdefault(shape, {})[key] = outcome
        addr_dims = [i for i, kind in enumerate(kinds) if kind in _ADDRESS_KINDS]
        # Kernel order: `net` parts' prefixes descending, the first part first; `ip` parts are
        # exact in the kernel, so their block sizes only break ties.
        net_dims = [j for j, i in enumerate(addr_dims) if kinds[i] == "net"]

        def order(shape: tuple[int, ...]) -> tuple[int, ...]:
            return tuple(-shape[j] for j in net_dims) + tuple(-p for p in shape)

        self._shapes: list[tuple[tuple[int | None, ...], dict[object, int]]] = []
        for shape in sorted(tables, key=order):
            masks: list[int | None] = [None] * len(kinds)
            for i, prefix in zip(addr_dims, shape, strict=True):
                masks[i] = _mask(prefix, width) & dim_masks[i]
            self._shapes.append((tuple(masks), tables[shape]))

    @staticmethod
    def _dim_masks(ipset: IpSet, width: int) -> tuple[list[int], list[int | None]]:
        """Per part: the mask on stored and packet nets (hash:net,net), and the mask on packet
        addresses looked up among masked `ip` elements (hash:ip, hash:ip,port, bitmap:ip)."""
        full = (1 << width) - 1
        net_masks = [full] * len(ipset.dimensions)
        pre_masks: list[int | None] = [None] * len(ipset.dimensions)
        netmask = ipset.options.get("netmask")
        bitmask = ipset.options.get("bitmask")
        if isinstance(netmask, int) and 0 < netmask <= width:
            mask = _mask(netmask, width)
        elif isinstance(bitmask, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            mask = int(bitmask)
        else:
            return net_masks, pre_masks
        if ipset.set_type == "hash:net,net":
            net_masks = [mask, mask]
        elif ipset.set_type in ("hash:ip", "hash:ip,port", "bitmap:ip"):
            pre_masks[0] = mask
        return net_masks, pre_masks

    @staticmethod
    def _bitmap_range(ipset: IpSet, mask: int) -> tuple[int, int] | None:
        value = ipset.options.get("range")
        if not ipset.set_type.startswith("bitmap:"):
            return None
        if isinstance(value, AddressRange):
            return int(value.first) & mask, int(value.last) | (~mask & 0xFFFFFFFF)
        if isinstance(value, tuple):
            return value
        return None

    def test(self, dims: Sequence[object], return_nomatch: bool, index: SetIndex) -> bool | None:
        want = -1 if return_nomatch and self.nomatch else 1
        values: list[Any] = []
        for kind, raw in zip(self.kinds, dims, strict=False):
            value = _normalize(kind, raw)
            if value is _ABSENT:
                return False
            if kind in _ADDRESS_KINDS and isinstance(value, tuple):
                if value[0] != self.version:
                    return False
                value = value[1]
                pre_mask = self._pre_masks[len(values)]
                if pre_mask is not None and value is not None:
                    value &= pre_mask
            elif kind == "port" and isinstance(value, tuple):
                if self._bitmap_port:
                    if value[0] not in _TCP_UDP:
                        return False
                    value = value[1]
                elif value[1] is None:
                    value = None
            elif kind == "mark" and isinstance(value, int):
                value &= self._markmask
            values.append(value)
        if self._range is not None and values[0] is not None:
            first, last = self._range
            if not first <= values[0] <= last:
                return False
        if None in values:
            return self._test_unknown(values, want)
        return self._lookup(values) == want

    def _lookup(self, values: list[Any]) -> int:
        if self._single:
            value = values[0]
            for masks, table in self._shapes:
                mask = masks[0]
                hit = table.get(value if mask is None else value & mask)
                if hit is not None:
                    return hit
            return 0
        for masks, table in self._shapes:
            key = tuple(v if m is None else v & m for v, m in zip(values, masks, strict=True))
            hit = table.get(key)
            if hit is not None:
                return hit
        return 0

    def _test_unknown(self, values: list[Any], want: int) -> bool | None:
        """False if no entry that agrees with the known fields counts as a match, else None."""
        known = [(i, v) for i, v in enumerate(values) if v is not None]
        for masks, table in self._shapes:
            wanted = [(i, v if masks[i] is None else v & masks[i]) for i, v in known]
            for key, outcome in table.items():
                if outcome != want:
                    continue
                parts: Any = (key,) if self._single else key
                if all(parts[i] == v for i, v in wanted):
                    return None
        return False


class _IpMacBitmapMatcher:
    """bitmap:ip,mac: an entry without a MAC matches any MAC (the kernel fills it in)."""

    __slots__ = ("kinds", "dimension", "version", "nomatch", "_entries", "_range")

    def __init__(self, ipset: IpSet) -> None:
        self.kinds = ipset.dimensions
        self.dimension, self.version, self.nomatch = 2, 4, False
        value = ipset.options.get("range")
        self._range = (int(value.first), int(value.last)) if isinstance(
            value, AddressRange) else (0, 0xFFFFFFFF)
        self._entries: dict[int, int | None] = {}
        for member in ipset.members:
            mac = member.values[1]
            number = _mac_number(mac) if isinstance(mac, str) else None
            assert not isinstance(number, _Absent)
            low, high = self._range
            for prefix, base in _blocks(member.values[0]):
                last = base + (1 << (32 - prefix)) - 1
                for address in range(max(base, low), min(last, high) + 1):
                    self._entries[address] = number

    def test(self, dims: Sequence[object], return_nomatch: bool, index: SetIndex) -> bool | None:
        address, mac = _normalize("ip", dims[0]), _normalize("mac", dims[1])
        if mac is _ABSENT:
            return False
        if isinstance(address, tuple) and address[0] != 4:
            return False
        if not isinstance(address, tuple) or address[1] is None:
            return None if self._entries else False
        number = address[1]
        if number not in self._entries:
            return False
        if mac is None:
            return None
        stored = self._entries[number]
        return stored is None or stored == mac


class _NetIfaceMatcher:
    """hash:net,iface, with the kernel's stop at the most specific prefix holding the network."""

    __slots__ = ("kinds", "dimension", "version", "nomatch", "_shapes")

    def __init__(self, ipset: IpSet) -> None:
        self.kinds = ipset.dimensions
        self.dimension, self.nomatch = 2, True
        self.version = 6 if ipset.family == "inet6" else 4
        width = 128 if self.version == 6 else 32
        tables: dict[int, dict[tuple[int, bool], dict[tuple[str, bool], int]]] = {}
        for member in ipset.members:
            iface = member.values[1]
            assert isinstance(iface, Interface)
            outcome = -1 if member.nomatch else 1
            for prefix, base in _blocks(member.values[0]):
                bucket = tables.setdefault(prefix, {}).setdefault((base, iface.physdev), {})
                # A re-add equal to a stored element (a stored wildcard equals every name it
                # prefixes) only updates its nomatch flag, as `add -exist` does in the kernel.
                same = next((k for k in bucket if k[0] == iface.name or (
                    k[1] and iface.name.startswith(k[0]))), (iface.name, member.wildcard))
                bucket[same] = outcome
        self._shapes = [(_mask(p, width), tables[p]) for p in sorted(tables, reverse=True)]

    def test(self, dims: Sequence[object], return_nomatch: bool, index: SetIndex) -> bool | None:
        want = -1 if return_nomatch else 1
        address, iface = _normalize("net", dims[0]), _normalize("iface", dims[1])
        if isinstance(address, tuple) and address[0] != self.version:
            return False
        if not isinstance(address, tuple) or address[1] is None:
            return None if self._shapes else False
        number = address[1]
        # iptables never asks for a bridge-port lookup; an Interface(physdev=True) does.
        physdev = iface.physdev if isinstance(iface, Interface) else False
        for mask, table in self._shapes:
            bucket = table.get((number & mask, physdev))
            if not bucket:
                continue
            if not isinstance(iface, Interface):
                return None if any(o == want for o in bucket.values()) else False
            for (name, wildcard), outcome in bucket.items():
                if name == iface.name or (wildcard and iface.name.startswith(name)):
                    return outcome == want
            return False  # the kernel's `multi`: a stored network ends the search
        return False


class _ListMatcher:
    """list:set: the member sets in order; the first that matches decides."""

    __slots__ = ("kinds", "dimension", "version", "nomatch", "_names")

    def __init__(self, ipset: IpSet) -> None:
        self.kinds = ipset.dimensions
        self.dimension, self.version, self.nomatch = 1, None, False
        self._names = tuple(str(m.values[0]) for m in ipset.members)

    def test(self, dims: Sequence[object], return_nomatch: bool, index: SetIndex) -> bool | None:
        unknown = False
        for name in self._names:
            matcher = index.sets.get(name)
            if matcher is None:
                unknown = True
                continue
            if isinstance(matcher, _ListMatcher):
                continue
            try:
                result = index.test(matcher, dims, return_nomatch)
            except _DoesNotFit:
                continue
            if result:
                return True
            unknown = unknown or result is None
        return None if unknown else False


_Matcher = _HashMatcher | _IpMacBitmapMatcher | _NetIfaceMatcher | _ListMatcher


@dataclass(frozen=True, slots=True)
class SetIndex(SetLookup):
    """The compiled sets of one dump, for fast membership tests by set name."""

    sets: Mapping[str, _Matcher]

    def match3(self, name: str, dims: Sequence[object], *,
               return_nomatch: bool = False) -> bool | None:
        """True/False as `--match-set name flags` decides; None when it depends on unknowns."""
        matcher = self.sets.get(name)
        if matcher is None:
            raise KeyError(f"no set named {name!r}")
        try:
            return self.test(matcher, dims, return_nomatch)
        except _DoesNotFit as error:
            raise TypeError(f"set {name!r}: {error}") from None

    def match(self, name: str, dims: Sequence[object], *, return_nomatch: bool = False) -> bool:
        """As match3, but raises UndeterminedMatch when the verdict depends on an unknown."""
        result = self.match3(name, dims, return_nomatch=return_nomatch)
        if result is None:
            raise UndeterminedMatch(f"membership in {name!r} depends on an unknown packet field")
        return result

    def dimensions(self, name: str) -> tuple[str, ...] | None:
        """The dimension kinds of a set ("ip", "net", "port", "mac", "iface", "mark", "set")."""
        matcher = self.sets.get(name)
        return None if matcher is None else matcher.kinds

    def lookup(self, name: str, values: Sequence[object],
               return_nomatch: bool = False) -> bool | None:
        """match3 for the rule evaluator; None also when the dump has no such set."""
        if name not in self.sets:
            return None
        return self.match3(name, values, return_nomatch=return_nomatch)

    def test(self, matcher: _Matcher, dims: Sequence[object], return_nomatch: bool) -> bool | None:
        """One set's verdict; `ip_set_test` refuses fewer flags than the set's dimension."""
        if len(dims) < matcher.dimension:
            return False
        return matcher.test(dims, return_nomatch, self)


def compile_set(ipset: IpSet) -> _Matcher:
    """The matcher for one parsed set."""
    if ipset.set_type == "list:set":
        return _ListMatcher(ipset)
    if ipset.set_type == "bitmap:ip,mac":
        return _IpMacBitmapMatcher(ipset)
    if ipset.set_type == "hash:net,iface":
        return _NetIfaceMatcher(ipset)
    return _HashMatcher(ipset)


def compile_sets(dump: IpSetDump) -> SetIndex:
    """Compile every set of a dump into a SetIndex."""
    return SetIndex(MappingProxyType({name: compile_set(s) for name, s in dump.sets.items()}))


def load_set_lookup(text: str,
                    filename: str = "<input>") -> tuple[SetIndex, tuple[ParseWarning, ...]]:
    """Parse an ipset dump and compile it: the evaluator's set lookup and the parse warnings."""
    dump = parse_ipset_save(text, filename)
    return compile_sets(dump), dump.warnings
