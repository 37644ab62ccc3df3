"""Compile a host's iptables tables into checks and per-chain candidate indexes."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field

from collectors.errors import ParseWarning
from collectors.iptables import Match, Option, Rule, Ruleset
from webapp.engine.iptables.matches import (
    Check,
    CompiledCheck,
    SetLookup,
    address_check,
    compile_match,
    interface_check,
    is_modelled,
    protocol_check,
)
from webapp.engine.iptables.targets import TargetAction, compile_target
from webapp.engine.packet import PacketState
from webapp.engine.values import (
    PORT_PROTOCOLS,
    ValueParseError,
    interface_matches,
    parse_cidr,
    parse_port_list,
    parse_port_range,
    parse_protocol,
)

# Chains shorter than this are scanned rule by rule: an index would cost more than it saves.
INDEX_MIN_RULES = 12


@dataclass(slots=True)
class CompiledRule:
    """A rule ready to evaluate: its checks in order, its target, and what the index may use."""

    rule: Rule
    checks: tuple[CompiledCheck, ...]
    action: TargetAction
    src: tuple[int, int, bool] | None = None  # (network, mask, negated)
    dst: tuple[int, int, bool] | None = None
    proto: tuple[int, bool] | None = None
    in_iface: tuple[str, bool] | None = None
    out_iface: tuple[str, bool] | None = None
    dport: tuple[tuple[tuple[int, int], ...], bool] | None = None


class ChainIndex:
    """Per packet-field bitsets of the rules that may match; a rule's bit is 1 << position."""

    def __init__(self, rules: list[CompiledRule], family: int) -> None:
        self.rules = rules
        self.all = (1 << len(rules)) - 1
        full = (1 << (32 if family == 4 else 128)) - 1
        self.src_bounds = _bounds([r.src for r in rules], full)
        self.dst_bounds = _bounds([r.dst for r in rules], full)
        port_ranges = [rng for r in rules if r.dport for rng in r.dport[0]]
        self.port_bounds = sorted({lo for lo, _ in port_ranges} | {hi + 1 for _, hi in port_ranges})
        self._cache: dict[tuple[str, object], int] = {}

    def candidates(self, state: PacketState) -> int:
        bits = self.all
        if state.src is not None:
            bits &= self._bits("src", bisect_right(self.src_bounds, state.src), state.src)
        if state.dst is not None:
            bits &= self._bits("dst", bisect_right(self.dst_bounds, state.dst), state.dst)
        bits &= self._bits("proto", state.proto, state.proto)
        bits &= self._bits("in", state.in_iface, state.in_iface)
        bits &= self._bits("out", state.out_iface, state.out_iface)
        if state.dport is not None and state.proto in PORT_PROTOCOLS:
            bits &= self._bits("dport", bisect_right(self.port_bounds, state.dport), state.dport)
        return bits

    def _bits(self, kind: str, key: object, value: object) -> int:
        cached = self._cache.get((kind, key))
        if cached is not None:
            return cached
        bits = 0
        for position, rule in enumerate(self.rules):
            if _may_match(rule, kind, value):
                bits |= 1 << position
        self._cache[(kind, key)] = bits
        return bits


def _bounds(preds: list[tuple[int, int, bool] | None], full: int) -> list[int]:
    """Start points of the address intervals inside which every network test answers alike."""
    points: set[int] = set()
    for pred in preds:
        if pred is not None:
            net, mask, _ = pred
            points.add(net)
            points.add((net | (full ^ mask)) + 1)
    return sorted(points)


def _may_match(rule: CompiledRule, kind: str, value: object) -> bool:
    """Whether the indexed part of a rule can hold for a field value (any value in its class)."""
    if kind == "src" or kind == "dst":
        pred = rule.src if kind == "src" else rule.dst
        if pred is None:
            return True
        net, mask, negated = pred
        return ((value & mask) == net) != negated  # type: ignore[operator]
    if kind == "proto":
        if rule.proto is None:
            return True
        number, negated = rule.proto
        return (number == value) != negated
    if kind in ("in", "out"):
        iface = rule.in_iface if kind == "in" else rule.out_iface
        if iface is None:
            return True
        pattern, negated = iface
        return interface_matches(pattern, value) != negated  # type: ignore[arg-type]
    if rule.dport is None:
        return True
    ranges, negated = rule.dport
    return any(lo <= value <= hi for lo, hi in ranges) != negated  # type: ignore[operator]


@dataclass(slots=True)
class CompiledChain:
    """A chain's rules in order, its policy, and an index once it is long enough."""

    table: str
    name: str
    policy: str | None
    rules: list[CompiledRule]
    packets: int | None = None
    bytes: int | None = None
    index: ChainIndex | None = None


@dataclass(slots=True)
class CompiledRuleset:
    """All tables of one family on one host, ready for `evaluate`."""

    family: int
    tables: dict[str, dict[str, CompiledChain]]
    warnings: list[ParseWarning] = field(default_factory=list)
    unmodelled: dict[str, int] = field(default_factory=dict)

    @property
    def rule_count(self) -> int:
        return sum(len(c.rules) for t in self.tables.values() for c in t.values())


def detect_family(ruleset: Ruleset) -> int:
    """IPv6 when addresses in the dump are IPv6 (ip6tables-save looks like iptables-save)."""
    for rule in ruleset.rules():
        for opt in rule.base:
            if opt.name in ("source", "destination"):
                return 6 if ":" in opt.args[0] else 4
        if "icmp6" in rule.text or "icmpv6" in rule.text:
            return 6
    return 4


def compile_ruleset(ruleset: Ruleset, sets: SetLookup | None = None,
                    family: int | None = None, use_index: bool = True) -> CompiledRuleset:
    """Compile every chain; values that cannot be read become unknown conditions and warnings."""
    family = family or detect_family(ruleset)
    compiled = CompiledRuleset(family, {}, list(ruleset.warnings))
    for table in ruleset.tables.values():
        chains: dict[str, CompiledChain] = {}
        for chain in table.chains.values():
            rules = [_compile_rule(rule, family, sets, table.chains, compiled, ruleset.legacy)
                     for rule in chain.rules]
            index = (ChainIndex(rules, family)
                     if use_index and len(rules) >= INDEX_MIN_RULES else None)
            chains[chain.name] = CompiledChain(table.name, chain.name, chain.policy, rules,
                                               chain.packets, chain.bytes, index)
        compiled.tables[table.name] = chains
    return compiled


def _compile_rule(rule: Rule, family: int, sets: SetLookup | None, chains: Mapping[str, object],
                  compiled: CompiledRuleset, legacy: bool = False) -> CompiledRule:
    """Checks for every condition of a rule. A value that cannot be read (an anonymised address,
    a typo) makes that condition unknown and adds a warning: it is never guessed."""
    spec = rule.spec
    try:
        action = compile_target(rule, chains)
    except ValueParseError as exc:
        _warn(compiled, rule, f"target not understood: {exc}")
        action = TargetAction("unknown", describes=f"-j {rule.target}: not understood ({exc})")
    result = CompiledRule(rule, (), action)
    checks: list[CompiledCheck] = []
    for opt in spec.base:
        try:
            checks.append(CompiledCheck(_base_check(result, opt, family), opt))
        except ValueParseError as exc:
            desc = CompiledCheck(_unknowable, opt).describes
            _warn(compiled, rule, f"{desc}: {exc}")
            checks.append(CompiledCheck(_unknowable, f"{desc} (not understood)"))
    for match in spec.matches:
        if not is_modelled(match):
            compiled.unmodelled[match.module] = compiled.unmodelled.get(match.module, 0) + 1
        try:
            checks.extend(compile_match(match, family, sets, legacy))
            dport = _indexable_dport(match)
        except ValueParseError as exc:
            _warn(compiled, rule, f"-m {match.module}: {exc}")
            checks.append(CompiledCheck(_unknowable, f"-m {match.module} (not understood)"))
            dport = None
        if dport is not None and result.dport is None:
            result.dport = dport
    result.checks = tuple(checks)
    return result


def _unknowable(state: PacketState) -> bool | None:
    return None


def _warn(compiled: CompiledRuleset, rule: Rule, message: str) -> None:
    compiled.warnings.append(ParseWarning(rule.filename, rule.line, message))


def _base_check(result: CompiledRule, opt: Option, family: int) -> Check:
    """A generic match (-s, -d, -p, -i, -o, -f); records what the chain index may use."""
    if opt.name in ("source", "destination"):
        field_name = "src" if opt.name == "source" else "dst"
        check = address_check(field_name, opt.value, opt.negated, family)
        _, net, mask, _ = parse_cidr(opt.value)
        setattr(result, field_name, (net, mask, opt.negated))
        return check
    if opt.name == "protocol":
        check = protocol_check(opt.value, opt.negated)
        number = parse_protocol(opt.value)
        if number != 0:
            result.proto = (number, opt.negated)
        return check
    if opt.name in ("in-interface", "out-interface"):
        field_name = "in_iface" if opt.name == "in-interface" else "out_iface"
        setattr(result, field_name, (opt.value, opt.negated))
        return interface_check(field_name, opt.value, opt.negated)
    # -f: Segscope's packets are whole or first fragments, never later fragments.
    return lambda state: opt.negated


def _indexable_dport(match: Match) -> tuple[tuple[tuple[int, int], ...], bool] | None:
    """The destination ports a tcp/udp/multiport match allows, for the chain index."""
    module = match.module
    for opt in match.options:
        if module in ("tcp", "udp", "sctp", "udplite", "dccp") and opt.name in (
                "dport", "destination-port"):
            return (parse_port_range(opt.value),), opt.negated
        if module == "multiport" and opt.name in ("dports", "destination-ports"):
            return parse_port_list(opt.value), opt.negated
    return None
