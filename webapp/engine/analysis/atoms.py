"""What a host's rules say about addresses and ports, read from the dumps as written.

The effective graph partitions sources (and destinations) into classes that every rule treats
alike. An *atom* is an address interval a rule or set names, with an identity: addresses inside
exactly the same identities answer every address test alike. A whole set is one identity when
membership is all that its lookup asks (one address dimension, no `nomatch`); otherwise each
member is its own, which is finer and still exact. Port boundaries are every point where some
port test may change its answer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from collectors.ipset.values import AddressRange, IpSet, IpSetDump, PortValue
from collectors.iptables import Rule
from collectors.nft.model import NftRuleset
from webapp.engine.values import ValueParseError, parse_address, parse_cidr, parse_port_list

Atom = tuple[int, int, Hashable]  # first, last (inclusive), identity

ADDRESS_SET_TYPES = frozenset({"hash:ip", "hash:net", "bitmap:ip"})
_PORT_OPTIONS = frozenset({"dport", "sport", "dports", "sports", "ports", "destination-port",
                           "source-port", "destination-ports", "source-ports"})


@dataclass(slots=True)
class RuleAtoms:
    """Address atoms per IP version, port boundaries, and the sets a rule looks up."""

    addresses: dict[int, list[Atom]] = field(default_factory=dict)
    ports: dict[str | None, set[int]] = field(default_factory=dict)  # protocol (None: any)
    sets: set[str] = field(default_factory=set)

    def add(self, family: int, first: int, last: int, ident: Hashable) -> None:
        self.addresses.setdefault(family, []).append((first, last, ident))

    def add_ports(self, low: int, high: int, proto: str | None = None) -> None:
        points = self.ports.setdefault(proto, set())
        points.add(low)
        points.add(high + 1)

    def port_bounds(self, proto: str) -> list[int]:
        """Sorted points inside 1..65535 where a port test of `proto` may change its answer."""
        points = self.ports.get(proto, set()) | self.ports.get(None, set())
        return sorted(p for p in points if 0 < p <= 65535)

    def update(self, other: RuleAtoms) -> None:
        for family, atoms in other.addresses.items():
            self.addresses.setdefault(family, []).extend(atoms)
        for proto, points in other.ports.items():
            self.ports.setdefault(proto, set()).update(points)
        self.sets |= other.sets


def _address_atom(text: str) -> tuple[int, int, int] | None:
    """(family, first, last) of `10.0.0.0/8`, a bare address or `a-b`; None if not one."""
    if "-" in text and not text.startswith("-"):
        low, _, high = text.partition("-")
        try:
            family, first = parse_address(low)
            family_high, last = parse_address(high)
        except ValueParseError:
            return None
        return (family, first, last) if family == family_high and first <= last else None
    if not text or not (text[0].isdigit() or text[0] in ":[" or text[0] in "abcdefABCDEF"):
        return None
    try:
        family, first, _, last = parse_cidr(text)
    except (ValueParseError, ValueError):
        return None
    return family, first, last


def iptables_rule_atoms(rule: Rule) -> RuleAtoms:
    """Atoms of one iptables rule: every address, range and port it names, the sets it uses."""
    out = RuleAtoms()
    spec = rule.spec
    proto_opt = next((o for o in spec.base if o.name == "protocol"), None)
    proto = (proto_opt.value.lower() if proto_opt is not None and not proto_opt.negated
             and proto_opt.value.lower() in ("tcp", "udp", "sctp") else None)
    for opt in spec.base:
        if opt.name in ("source", "destination"):
            for text in opt.value.split(","):
                found = _address_atom(text)
                if found:
                    out.add(found[0], found[1], found[2], ("net", found[1], found[2]))
    for match in spec.matches:
        for opt in match.options:
            if opt.name == "match-set" and opt.args:
                out.sets.add(opt.args[0])
                continue
            if opt.name in _PORT_OPTIONS:
                try:
                    for low, high in parse_port_list(opt.value):
                        out.add_ports(low, high, proto)
                except ValueParseError:
                    pass
                continue
            for arg in opt.args:
                for text in arg.split(","):
                    found = _address_atom(text)
                    if found:
                        out.add(found[0], found[1], found[2], ("net", found[1], found[2]))
    return out


def _value_atom(value: object) -> tuple[int, int, int] | None:
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        family = value.version
        first = int(value.network_address)
        # broadcast_address is a slow cached property; the prefix length says the same.
        return family, first, first | ((1 << (value.max_prefixlen - value.prefixlen)) - 1)
    if isinstance(value, AddressRange):
        return value.first.version, int(value.first), int(value.last)
    return None


def ipset_atoms(dump: IpSetDump, name: str, seen: frozenset[str] = frozenset()) -> RuleAtoms:
    """Atoms of one set (list:set members followed), identities as the module docstring says."""
    out = RuleAtoms()
    ipset = dump.sets.get(name)
    if ipset is None or name in seen:
        return out
    if ipset.set_type == "list:set":
        for member in ipset.members:
            for value in member.values:
                if isinstance(value, str):
                    out.update(ipset_atoms(dump, value, seen | {name}))
        return out
    return _member_atoms(name, _membership_only(ipset), tuple(m.values for m in ipset.members))


# A fleet's hosts hold the same sets (a segment's set on every host it reaches) and the parser
# shares their element values: their atoms are computed once and shared, never modified.
@lru_cache(maxsize=1 << 14)
def _member_atoms(name: str, whole: bool, values: tuple[tuple[object, ...], ...]) -> RuleAtoms:
    out = RuleAtoms()
    whole_ident = ("set", name)
    for index, member_values in enumerate(values):
        ident: Hashable = whole_ident if whole else ("member", name, index)
        for value in member_values:
            atom = _value_atom(value)
            if atom is not None:
                out.add(atom[0], atom[1], atom[2], ident)
            elif isinstance(value, PortValue):
                out.add_ports(value.first, value.last)
    return out


def _membership_only(ipset: IpSet) -> bool:
    return ipset.set_type in ADDRESS_SET_TYPES and not any(m.nomatch for m in ipset.members)


def nft_atoms(ruleset: NftRuleset) -> RuleAtoms:
    """Every address, prefix, range and small number in an nft ruleset's rules and sets.

    Named address sets count as one identity; everything else is its own (finer, still exact).
    Numbers 0-65535 anywhere become port boundaries: some are not ports, which only splits
    port intervals more finely than needed."""
    out = RuleAtoms()
    for table in ruleset.tables.values():
        for chain in table.chains.values():
            for rule in chain.rules:
                for found in _walk_json(rule.expr):
                    _add_found(out, found, None)
        for nset in table.sets.values():
            plain = (len(nset.key_types) == 1 and nset.key_types[0] in ("ipv4_addr", "ipv6_addr")
                     and not nset.is_map)
            ident = ("nftset", table.family, table.name, nset.name) if plain else None
            for element in nset.elements:
                for found in _walk_json(element):
                    _add_found(out, found, ident)
    return out


def _add_found(out: RuleAtoms, found: tuple[str, Any, Any], ident: Hashable | None) -> None:
    kind, first, last = found
    if kind == "port":
        out.add_ports(first, last)
        return
    family, low, high = first
    out.add(family, low, high, ident if ident is not None else ("net", low, high))


def _walk_json(node: Any) -> Iterator[tuple[str, Any, Any]]:
    """Addresses (as ("addr", (family, first, last), None)) and ports found in nft JSON."""
    if isinstance(node, str):
        found = _address_atom(node) if any(c in node for c in ".:") else None
        if found:
            yield "addr", found, None
        return
    if isinstance(node, bool):
        return
    if isinstance(node, int):
        if 0 <= node <= 65535:
            yield "port", node, node
        return
    if isinstance(node, list | tuple):
        if (len(node) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in node)
                and 0 <= node[0] <= node[1] <= 65535):
            yield "port", node[0], node[1]
            return
        for item in node:
            yield from _walk_json(item)
        return
    if isinstance(node, dict):
        prefix = node.get("prefix")
        if isinstance(prefix, dict) and isinstance(prefix.get("addr"), str):
            found = _address_atom(f"{prefix['addr']}/{prefix.get('len')}")
            if found:
                yield "addr", found, None
                return
        bounds = node.get("range")
        if isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, str)
                                                                 for b in bounds):
            found = _address_atom(f"{bounds[0]}-{bounds[1]}")
            if found:
                yield "addr", found, None
                return
        for value in node.values():
            yield from _walk_json(value)


def merge_atoms(parts: Iterable[RuleAtoms]) -> RuleAtoms:
    out = RuleAtoms()
    for part in parts:
        out.update(part)
    return out
