"""The service matrix of one host's chain for a protocol and destination port, per family."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from collectors.ipset import parse_ipset_save
from collectors.ipset.values import IpSetDump
from collectors.iptables import Rule, Ruleset, Table, parse_iptables_save
from webapp.engine.iptables.ipsets import SetIndex, compile_sets
from webapp.engine.iptables.targets import compile_target
from webapp.engine.matrix.ipassmt import DEFAULT_IPASSMT, parse_ipassmt
from webapp.engine.matrix.partition import AddressClass, ServiceMatrix, partition
from webapp.engine.matrix.shapes import Interfaces, MatrixPacket, RuleShape, ShapeBuilder
from webapp.engine.matrix.space import Atoms, Interval
from webapp.engine.matrix.walk import Step, WalkChain, Walker
from webapp.engine.values import PORT_PROTOCOLS, ValueParseError, parse_protocol

DEFAULT_SPORT = 10000
# Every built-in chain of any table (fffuu takes e.g. raw PREROUTING for spoofing protection).
CHAINS = ("INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING")


@dataclass(frozen=True, slots=True)
class MatrixRequest:
    """What a service matrix is asked for: table, built-in chain, protocol and ports."""

    chain: str
    proto: str
    dport: int | None
    sport: int | None = DEFAULT_SPORT
    table: str = "filter"
    ipassmt: str | None = None


def service_matrix(request: MatrixRequest, iptables: str | None = None,
                   ip6tables: str | None = None, ipset: str | None = None,
                   names: tuple[str, str, str] = ("iptables-save", "ip6tables-save",
                                                  "ipset-save")) -> ServiceMatrix:
    """Classes and edges of each family given (IPv4 from iptables, IPv6 from ip6tables)."""
    if iptables is None and ip6tables is None:
        raise ValueError("give an iptables-save or ip6tables-save dump")
    sets = None
    if ipset is not None:
        dump = parse_ipset_save(ipset, names[2])
        sets = (dump, compile_sets(dump))
    classes: list[AddressClass] = []
    edges: list[tuple[str, str]] = []
    notes: list[str] = []
    for family, text, name in ((4, iptables, names[0]), (6, ip6tables, names[1])):
        if text is None:
            continue
        ruleset = parse_iptables_save(text, name).check()
        found = family_matrix(ruleset, family, request, sets)
        classes.extend(found.classes)
        edges.extend(found.edges)
        notes.extend(f"IPv{family}: {note}" for note in found.notes)
    return ServiceMatrix(tuple(classes), tuple(edges), tuple(notes))


def family_matrix(ruleset: Ruleset, family: int, request: MatrixRequest,
                  sets: tuple[IpSetDump, SetIndex] | None = None) -> ServiceMatrix:
    """The matrix of one family's rule set."""
    chain = request.chain.upper()
    if chain not in CHAINS:
        raise ValueParseError(f"chain must be one of {', '.join(CHAINS)}, not {request.chain!r}")
    proto = parse_protocol(request.proto)
    has_ports = proto in PORT_PROTOCOLS
    packet = MatrixPacket(family, proto, request.sport if has_ports else None,
                          request.dport if has_ports else None, chain)
    table = ruleset.tables.get(request.table)
    if table is None or chain not in table.chains:
        table = Table(request.table, 0, {})
    chains = _reachable(table, chain)
    assumption = parse_ipassmt(request.ipassmt or DEFAULT_IPASSMT[family], family)
    used = {opt.value for name in chains for rule in table.chains[name].rules
            for opt in rule.base if opt.name == "in-interface"}
    exact = assumption.disjoint() and all(assumption.named(p) for p in used)
    builder = ShapeBuilder(packet, Interfaces(assumption, exact), sets)
    shapes = {name: [(rule, builder.shape(rule)) for rule in table.chains[name].rules]
              for name in chains}
    intervals: list[Interval] = [r for ranges in assumption.ranges.values() for r in ranges]
    for rules in shapes.values():
        for _, shape in rules:
            for part in shape.intervals():
                intervals.extend(part)
    atoms = Atoms(family, intervals)
    walker = Walker({name: WalkChain(name, table.chains[name].policy if name in table.chains
                                     else "ACCEPT", _steps(atoms, table, rules))
                     for name, rules in shapes.items()})
    if not table.chains:
        walker.chains[chain] = WalkChain(chain, "ACCEPT", [])
    accepted = walker.run(chain, {atoms.all: atoms.all})
    classes, edges = partition(atoms, accepted)
    return ServiceMatrix(tuple(classes), tuple(edges),
                         tuple(_notes(shapes, exact, bool(used), table)) + tuple(
                             sorted(walker.notes)))


def _reachable(table: Table, start: str) -> list[str]:
    """The start chain and every user chain it jumps or goes to, directly or not."""
    order: list[str] = []
    todo = [start] if start in table.chains else []
    while todo:
        name = todo.pop()
        if name in order:
            continue
        order.append(name)
        todo.extend(r.target for r in table.chains[name].rules
                    if r.target in table.chains and r.target not in order)
    return order


def _steps(atoms: Atoms, table: Table, rules: list[tuple[Rule, RuleShape]]) -> list[Step]:
    steps = []
    for rule, shape in rules:
        if shape.rest is False:
            continue
        src_maybe, dst_maybe = atoms.mask(shape.src_maybe), atoms.mask(shape.dst_maybe)
        src_true = atoms.mask(shape.src_true) if shape.rest else 0
        dst_true = atoms.mask(shape.dst_true) if shape.rest else 0
        steps.append(Step(rule, compile_target(rule, table.chains),
                          src_true, dst_true, src_maybe, dst_maybe))
    return steps


def _notes(shapes: dict[str, list[tuple[Rule, RuleShape]]], exact: bool, uses_iface: bool,
           table: Table) -> list[str]:
    """What the matrix could not decide, counted by condition."""
    notes = []
    if not table.chains:
        notes.append("no such table or chain in the dump: every connection is accepted")
    if uses_iface:
        notes.append("-i read exactly through the interface assumption" if exact else
                     "-i undecidable within the assumed ranges (assumption incomplete or "
                     "overlapping)")
    counts = Counter(text for rules in shapes.values() for _, shape in rules
                     for text in shape.undecided)
    notes.extend(f"undecidable in {n} rule(s): {text}" for text, n in sorted(counts.items()))
    return notes
