"""The source or destination addresses an ipset match holds for one fixed protocol and ports."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from collectors.ipset.values import AddressRange, IpSet, IpSetDump
from webapp.engine.iptables.ipsets import SetIndex
from webapp.engine.iptables.setlookup import Endpoint
from webapp.engine.matrix.space import Interval, normalize, space_end

_ADDRESS_KINDS = frozenset({"ip", "net"})
# Dimensions a service matrix cannot decide: the packet's MAC, interface and mark are not fixed.
_UNDECIDED_KINDS = frozenset({"mac", "iface", "mark"})


@dataclass(frozen=True, slots=True)
class SetRegion:
    """Where a `--match-set` condition holds (`true`) and where it may hold (`maybe`)."""

    side: str  # "src" or "dst"
    true: list[Interval]
    maybe: list[Interval]


def set_region(dump: IpSetDump, index: SetIndex, name: str, flags: tuple[str, ...],
               negated: bool, return_nomatch: bool, family: int, proto: int,
               ports: tuple[int | None, int | None]) -> SetRegion | None:
    """The condition's region on the side its address dimension reads; None when it also
    depends on something the matrix leaves open (MAC, interface, mark, two address sides)."""
    position = _address_position(dump, name, set())
    if position is None or position >= len(flags):
        return None
    side = flags[position]
    bounds = _member_bounds(dump, name, family, set())
    if bounds is None:
        return None
    true: list[Interval] = []
    maybe: list[Interval] = []
    end = space_end(family)
    points = sorted({0, *(p for p in bounds if p <= end)})
    for i, start in enumerate(points):
        last = points[i + 1] - 1 if i + 1 < len(points) else end
        dims = [_endpoint(flag, side, family, start, proto, ports) for flag in flags]
        found = index.lookup(name, dims, return_nomatch)
        result = None if found is None else found != negated
        if result is not False:
            maybe.append((start, last))
        if result is True:
            true.append((start, last))
    return SetRegion(side, normalize(true), normalize(maybe))


def _endpoint(flag: str, side: str, family: int, address: int, proto: int,
              ports: tuple[int | None, int | None]) -> Endpoint:
    port = ports[0] if flag == "src" else ports[1]
    value = ipaddress.ip_address(address) if family == 4 else ipaddress.IPv6Address(address)
    return Endpoint(address=value if flag == side else None, port=(proto, port))


def _address_position(dump: IpSetDump, name: str, seen: set[str]) -> int | None:
    """The one dimension that holds an address (the same in every member of a list:set)."""
    ipset = dump.sets.get(name)
    if ipset is None or name in seen:
        return None
    seen.add(name)
    if ipset.set_type == "list:set":
        positions = {_address_position(dump, str(m.values[0]), seen) for m in ipset.members}
        return positions.pop() if len(positions) == 1 else None
    kinds = ipset.dimensions
    if _UNDECIDED_KINDS & set(kinds):
        return None
    found = [i for i, kind in enumerate(kinds) if kind in _ADDRESS_KINDS]
    return found[0] if len(found) == 1 else None


def _member_bounds(dump: IpSetDump, name: str, family: int, seen: set[str]) -> set[int] | None:
    """Every address where membership may change: starts and ends+1 of member addresses."""
    ipset = dump.sets.get(name)
    if ipset is None or name in seen:
        return None
    seen.add(name)
    if ipset.set_type == "list:set":
        points: set[int] = set()
        for member in ipset.members:
            inner = _member_bounds(dump, str(member.values[0]), family, seen)
            if inner is None:
                return None
            points |= inner
        return points
    return _bounds_of(ipset, family)


def _bounds_of(ipset: IpSet, family: int) -> set[int]:
    points: set[int] = set()
    netmask = ipset.options.get("netmask")
    for member in ipset.members:
        for value in member.values:
            if isinstance(value, AddressRange):
                if value.first.version != family:
                    continue
                first, last = int(value.first), int(value.last)
            elif isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
                if value.version != family:
                    continue
                network = value
                if isinstance(netmask, int) and netmask < network.prefixlen:
                    network = network.supernet(new_prefix=netmask)
                first, last = int(network.network_address), int(network.broadcast_address)
            else:
                continue
            points.add(first)
            points.add(last + 1)
    return points
