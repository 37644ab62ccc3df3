"""Evaluating one path through one host for a class of packets: which ports it accepts, and why."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from webapp.engine.analysis.atoms import RuleAtoms
from webapp.engine.analysis.ports import EMPTY, GRAPH_PROTOCOLS, PortSet
from webapp.engine.explanation import Decision, Explanation
from webapp.engine.host import HostRules
from webapp.engine.packet import Packet

EPHEMERAL = (32768, 60999)  # Linux's default ip_local_port_range


@dataclass(frozen=True, slots=True)
class Evidence:
    """The rule (or policy) on one host that decided some ports of a path."""

    host: str
    hook: str
    verdict: str
    table: str
    chain: str
    rule_number: int | None = None
    line: int | None = None
    handle: int | None = None
    family: str | None = None
    policy: bool = False
    text: str | None = None
    packets: int | None = None
    bytes: int | None = None
    note: str | None = None

    def to_dict(self, ports: PortSet | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"host": self.host, "hook": self.hook, "verdict": self.verdict,
                               "table": self.table, "chain": self.chain}
        if self.policy:
            out["policy"] = True
        else:
            out["rule_number"] = self.rule_number
            out["line"] = self.line
            if self.handle is not None:
                out["handle"] = self.handle
        for name in ("family", "text", "packets", "bytes", "note"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if ports is not None:
            out["ports"] = ports.texts()
        return out

    @property
    def rule_ref(self) -> dict[str, Any]:
        """The rule as drift names it: table, chain, rule_number, line (or nft handle)."""
        ref: dict[str, Any] = {"table": self.table, "chain": self.chain}
        if self.policy:
            ref["policy"] = True
        else:
            ref.update(rule_number=self.rule_number, line=self.line)
            if self.handle is not None:
                ref["handle"] = self.handle
        return ref


@dataclass(frozen=True, slots=True)
class PathVerdicts:
    """What one path through one host does to a class of packets, port by port."""

    allowed: PortSet
    accepted_by: tuple[tuple[Evidence, PortSet], ...] = ()
    denied_by: tuple[tuple[Evidence, PortSet], ...] = ()

    def deciding(self, ports: PortSet, accepted: bool) -> list[tuple[Evidence, PortSet]]:
        """The decisions covering some of `ports`, restricted to them."""
        out = []
        for evidence, covered in (self.accepted_by if accepted else self.denied_by):
            part = covered & ports
            if part:
                out.append((evidence, part))
        return out


OPEN = PathVerdicts(PortSet.everything())  # interned below, once intern exists


class RuleDirectory:
    """Rule text and counters by where a decision names them, for one host."""

    def __init__(self, host: str, rules: HostRules) -> None:
        self.host = host
        self._iptables: dict[tuple[int, str, str, int], Any] = {}
        self._policies: dict[tuple[int, str, str], Any] = {}
        for family, compiled in rules.iptables.items():
            for table, chains in compiled.tables.items():
                for chain in chains.values():
                    self._policies[(family, table, chain.name)] = chain
                    for number, crule in enumerate(chain.rules, start=1):
                        self._iptables[(family, table, chain.name, number)] = crule.rule
        self._nft: dict[tuple[str, str, int], Any] = {}
        if rules.nft is not None:
            for nft_rule in rules.nft.rules():
                if nft_rule.handle is not None:
                    self._nft[(nft_rule.family, nft_rule.table, nft_rule.handle)] = nft_rule
        self._cache: dict[tuple[int, str, str, Decision], Evidence] = {}

    def evidence(self, family: int, hook: str, verdict: str, decision: Decision | None,
                 note: str | None = None) -> Evidence:
        if decision is None:
            return Evidence(self.host, hook, verdict, "-", "-", policy=True, note=note)
        key = (family, hook, verdict, decision)
        found = self._cache.get(key) if note is None else None
        if found is not None:
            return found
        text = packets = bytes_ = None
        if decision.handle is not None and decision.family is not None:
            nft_rule = self._nft.get((decision.family, decision.table, decision.handle))
            if nft_rule is not None:
                text = nft_rule.text
        elif decision.policy:
            chain = self._policies.get((family, decision.table, decision.chain))
            if chain is not None:
                packets, bytes_ = chain.packets, chain.bytes
        elif decision.rule_number is not None:
            rule = self._iptables.get((family, decision.table, decision.chain,
                                       decision.rule_number))
            if rule is not None:
                text, packets, bytes_ = rule.text, rule.packets, rule.bytes
        found = Evidence(self.host, hook, verdict, decision.table, decision.chain,
                         decision.rule_number, decision.line, decision.handle, decision.family,
                         decision.policy, text, packets, bytes_, note)
        if note is None:
            self._cache[key] = found
        return found


def intervals(bounds: list[int]) -> list[tuple[int, int]]:
    """Port intervals 0..65535 cut at `bounds` (each a first port of a new interval)."""
    out, low = [], 0
    for point in bounds:
        if point > low:
            out.append((low, point - 1))
            low = point
    out.append((low, 65535))
    return out


def source_ports(atoms: RuleAtoms, proto: str) -> list[int]:
    """One source port per interval of the ephemeral range that rules tell apart."""
    low, high = EPHEMERAL
    inside = [p for p in atoms.port_bounds(proto) if low < p <= high]
    return [low, *inside]


def evaluate_path(host: str, rules: HostRules, directory: RuleDirectory, family: int,
                  hook: str, src: str, dst: str, in_iface: str | None, out_iface: str | None,
                  atoms: RuleAtoms, protocols: Iterable[str] = GRAPH_PROTOCOLS) -> PathVerdicts:
    """Verdicts for NEW connections from `src` to `dst` on every port interval the rules tell
    apart; an interval counts as accepted when any source port or unknown condition accepts it
    (the evidence says so)."""
    accepted: dict[Evidence, list[tuple[str, int, int]]] = {}
    denied: dict[Evidence, list[tuple[str, int, int]]] = {}
    for proto in protocols:
        spans = intervals(atoms.port_bounds(proto)) if proto != "icmp" else [(0, 65535)]
        sports = source_ports(atoms, proto) if proto != "icmp" else [None]
        for low, high in spans:
            verdicts = []
            for sport in sports:
                packet = Packet(src, dst, proto, sport,
                                low if proto != "icmp" else None, in_iface=in_iface,
                                out_iface=out_iface)
                verdicts.append(rules.explain(packet, hook, trace=False))
            ok, evidence = _summarise(directory, family, hook, verdicts)
            (accepted if ok else denied).setdefault(evidence, []).append((proto, low, high))
    allowed = intern(PortSet.of(_by_proto(span for spans in accepted.values()
                                           for span in spans)))
    return PathVerdicts(
        allowed,
        tuple((e, PortSet.of(_by_proto(s))) for e, s in accepted.items()),
        tuple((e, PortSet.of(_by_proto(s))) for e, s in denied.items()))


_INTERNED: dict[PortSet, PortSet] = {}


def intern(ports: PortSet) -> PortSet:
    """One object per distinct port set, so that combinations can be memoised by identity."""
    return _INTERNED.setdefault(ports, ports)


def _by_proto(spans: Iterable[tuple[str, int, int]]) -> dict[str, list[tuple[int, int]]]:
    out: dict[str, list[tuple[int, int]]] = {}
    for proto, low, high in spans:
        out.setdefault(proto, []).append((low, high))
    return out


def _summarise(directory: RuleDirectory, family: int, hook: str,
               verdicts: list[Explanation]) -> tuple[bool, Evidence]:
    """Accepted when any answer (source port, unknown condition) accepts; its evidence."""
    note = None
    if len(verdicts) > 1 and len({v.verdict for v in verdicts}) > 1:
        note = "depends on source port"
    for explanation in verdicts:
        if explanation.verdict == "ACCEPT":
            return True, directory.evidence(family, hook, "ACCEPT", explanation.decided_by, note)
        if explanation.verdict == "UNKNOWN":
            for outcome in explanation.possible:
                if outcome.verdict == "ACCEPT":
                    depends = "depends on " + "; ".join(explanation.depends_on)
                    return True, directory.evidence(family, hook, "ACCEPT", outcome.decided_by,
                                                    depends)
    first = verdicts[0]
    decision = first.decided_by
    if decision is None and first.possible:
        decision = first.possible[0].decided_by
    return False, directory.evidence(family, hook, first.verdict, decision, note)


NOTHING = PathVerdicts(intern(EMPTY))
intern(OPEN.allowed)
