"""Each rule as the service matrix sees it: address regions plus one three-valued rest."""

from __future__ import annotations

from dataclasses import dataclass, field

from collectors.ipset.values import IpSetDump
from collectors.iptables import Match, Rule
from webapp.engine.iptables.ipsets import SetIndex
from webapp.engine.iptables.matches import compile_match, protocol_check
from webapp.engine.matrix.ipassmt import InterfaceAssumption
from webapp.engine.matrix.setregion import SetRegion, set_region
from webapp.engine.matrix.space import Interval, complement, intersect, space_end
from webapp.engine.packet import PacketState
from webapp.engine.values import ValueParseError, parse_cidr

# Modules whose every option reads protocol, ports, TCP flags or conntrack state (or nothing).
_DECIDED_MODULES = frozenset({"tcp", "udp", "sctp", "udplite", "dccp", "multiport", "state",
                              "comment"})
_CONNTRACK_DECIDED = frozenset({"ctstate", "ctproto"})


@dataclass(frozen=True, slots=True)
class MatrixPacket:
    """The fixed part of the packet: protocol, ports, and a first packet (NEW, TCP SYN)."""

    family: int
    proto: int
    sport: int | None
    dport: int | None
    hook: str

    def state(self) -> PacketState:
        """A packet state with both addresses and both interfaces left unknown."""
        return PacketState(
            family=self.family, src=None, dst=None, proto=self.proto, sport=self.sport,
            dport=self.dport, icmp_type=None, icmp_code=None, in_iface=None, out_iface=None,
            ct_state="NEW", mark=0, ctmark=0, tcp_flags=0x02 if self.proto == 6 else 0, ttl=64,
            src_mac=None, hook=self.hook, ct_attached=True)


@dataclass(slots=True)
class Interfaces:
    """How `-i` reads: exactly as a source range when the assumption is complete and disjoint."""

    assumption: InterfaceAssumption
    exact: bool


@dataclass(slots=True)
class RuleShape:
    """Where a rule surely matches (`src_true` x `dst_true`, when `rest` is True) and where it
    may match (`src_maybe` x `dst_maybe`, unless `rest` is False)."""

    src_true: list[Interval]
    src_maybe: list[Interval]
    dst_true: list[Interval]
    dst_maybe: list[Interval]
    rest: bool | None = True
    undecided: list[str] = field(default_factory=list)

    def restrict(self, side: str, true: list[Interval], maybe: list[Interval]) -> None:
        """And one address condition into the shape."""
        if side == "src":
            self.src_true = intersect(self.src_true, true)
            self.src_maybe = intersect(self.src_maybe, maybe)
        else:
            self.dst_true = intersect(self.dst_true, true)
            self.dst_maybe = intersect(self.dst_maybe, maybe)

    def undecidable(self, what: str) -> None:
        """And a condition that cannot be decided for this packet."""
        if self.rest is True:
            self.rest = None
        self.undecided.append(what)

    def decided(self, value: bool | None, what: str) -> None:
        """And a three-valued condition that does not read addresses."""
        if value is False:
            self.rest = False
        elif value is None:
            self.undecidable(what)

    def intervals(self) -> list[list[Interval]]:
        """Every interval the shape mentions (for the atoms)."""
        return [self.src_true, self.src_maybe, self.dst_true, self.dst_maybe]


class ShapeBuilder:
    """Turns rules into shapes for one packet, set dump and interface assumption."""

    def __init__(self, packet: MatrixPacket, interfaces: Interfaces,
                 sets: tuple[IpSetDump, SetIndex] | None) -> None:
        self.packet = packet
        self.interfaces = interfaces
        self.sets = sets
        self.state = packet.state()
        self.full = [(0, space_end(packet.family))]
        self._set_cache: dict[tuple[object, ...], SetRegion | None] = {}

    def shape(self, rule: Rule) -> RuleShape:
        """The rule's shape; a value that cannot be read makes its condition undecidable."""
        shape = RuleShape(self.full, self.full, self.full, self.full)
        spec = rule.spec
        for opt in spec.base:
            try:
                self._base(shape, opt.name, opt.value, opt.negated)
            except ValueParseError:
                shape.undecidable(f"{'! ' if opt.negated else ''}--{opt.name} {opt.value}")
        for match in spec.matches:
            try:
                self._match(shape, match)
            except (ValueParseError, TypeError, KeyError):
                shape.undecidable(f"-m {match.module} (not understood)")
        return shape

    def _base(self, shape: RuleShape, name: str, value: str, negated: bool) -> None:
        family = self.packet.family
        if name in ("source", "destination"):
            fam, first, _, last = parse_cidr(value)
            if fam != family:
                raise ValueParseError(f"{value} is not IPv{family}")
            inside = [(first, last)]
            region = complement(inside, family) if negated else inside
            shape.restrict("src" if name == "source" else "dst", region, region)
        elif name == "protocol":
            shape.decided(protocol_check(value, negated)(self.state), f"-p {value}")
        elif name == "in-interface":
            self._in_interface(shape, value, negated)
        elif name == "out-interface":
            shape.undecidable(f"{'! ' if negated else ''}-o {value}")
        elif name == "fragment":
            shape.decided(negated, "-f")  # a first packet is never a later fragment
        else:
            shape.undecidable(f"--{name} {value}")

    def _in_interface(self, shape: RuleShape, pattern: str, negated: bool) -> None:
        assumption = self.interfaces.assumption
        family = self.packet.family
        text = f"{'! ' if negated else ''}-i {pattern}"
        ranges = assumption.ranges_of(pattern)
        if self.interfaces.exact:
            region = complement(ranges, family) if negated else ranges
            shape.restrict("src", region, region)
            return
        shape.undecided.append(text)
        if not assumption.named(pattern):
            shape.restrict("src", [], self.full)
        elif negated:
            shape.restrict("src", complement(ranges, family), self.full)
        else:
            shape.restrict("src", [], ranges)

    def _match(self, shape: RuleShape, match: Match) -> None:
        module = match.module
        family = self.packet.family
        if module in _DECIDED_MODULES:
            for check in compile_match(match, family, None):
                shape.decided(check.check(self.state), check.describes)
        elif module == "conntrack":
            kept = tuple(o for o in match.options if o.name in _CONNTRACK_DECIDED)
            value = compile_match(Match(module, kept), family, None)[0].check(self.state)
            if value is not False and len(kept) < len(match.options):
                value = None
            shape.decided(value, f"-m conntrack {' '.join(map(str, match.options))}")
        elif module in ("icmp", "icmp6", "icmpv6", "ipv6-icmp") and self.packet.proto not in (
                1, 58):
            shape.decided(False, f"-m {module}")
        elif module == "iprange":
            self._iprange(shape, match)
        elif module == "set":
            self._set(shape, match)
        else:
            shape.undecidable(f"-m {module} {' '.join(map(str, match.options))}".rstrip())

    def _iprange(self, shape: RuleShape, match: Match) -> None:
        family = self.packet.family
        for opt in match.options:
            if opt.name not in ("src-range", "dst-range"):
                shape.undecidable(f"-m iprange {opt}")
                continue
            low, _, high = opt.value.partition("-")
            fam_low, first, _, _ = parse_cidr(low)
            fam_high, last, _, _ = parse_cidr(high or low)
            if fam_low != family or fam_high != family:
                raise ValueParseError(f"range {opt.value} is not IPv{family}")
            inside = [(first, last)] if first <= last else []
            region = complement(inside, family) if opt.negated else inside
            shape.restrict("src" if opt.name == "src-range" else "dst", region, region)

    def _set(self, shape: RuleShape, match: Match) -> None:
        return_nomatch = match.option("return-nomatch") is not None
        for opt in match.options:
            if opt.name in ("return-nomatch", "update-counters", "update-subcounters"):
                continue
            if opt.name not in ("match-set", "set") or len(opt.args) != 2 or self.sets is None:
                shape.undecidable(f"-m set {opt}")
                continue
            key = (opt.args[0], opt.args[1], opt.negated, return_nomatch)
            if key not in self._set_cache:
                dump, index = self.sets
                self._set_cache[key] = set_region(
                    dump, index, opt.args[0], tuple(opt.args[1].split(",")), opt.negated,
                    return_nomatch, self.packet.family, self.packet.proto,
                    (self.packet.sport, self.packet.dport))
            region = self._set_cache[key]
            if region is None:
                shape.undecidable(f"-m set {opt}")
            else:
                shape.restrict(region.side, region.true, region.maybe)
