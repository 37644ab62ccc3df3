"""Drift: where the fleet's effective state differs from the intended policy, finding by finding.

Kinds: missing (intended, not allowed), excess (allowed, not intended), stale (a rule or set
member naming an address no live workload owns, or one now owned by a workload of another
segment), shadowed (a rule no packet can reach), unused (an accepting rule whose counters never
moved), foreign (a rule outside the managed chains that decides an outcome)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from collectors.controlplane import WorkloadSpec, render_host
from collectors.intent import Intent
from collectors.iptables import Rule, parse_iptables_save
from webapp.engine.analysis.fleet import Fleet, HostState, Workload
from webapp.engine.analysis.graph import EffectiveGraph
from webapp.engine.analysis.intended import segments_of
from webapp.engine.analysis.ports import PortSet
from webapp.engine.analysis.shadow import shadowed_rules
from webapp.engine.analysis.verdicts import Evidence

KINDS = ("missing", "excess", "stale", "shadowed", "unused", "foreign")
DEFAULT_MANAGED_PREFIXES = ("seg-",)
_COUNTERS = re.compile(r"^\[\d+:\d+\]\s*")


@dataclass(frozen=True, slots=True)
class Finding:
    """One difference between the fleet and its intent, named as precisely as it can be."""

    kind: str
    host: str | None
    rule: Mapping[str, Any] | None = None
    set: str | None = None
    address: str | None = None
    src_segment: str | None = None
    dst_segment: str | None = None
    workloads: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    since: datetime | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind, "host": self.host,
            "rule": dict(self.rule) if self.rule is not None else None,
            "set": self.set, "address": self.address, "src_segment": self.src_segment,
            "dst_segment": self.dst_segment, "workloads": list(self.workloads),
            "ports": list(self.ports),
            "since": _iso(self.since),
        }
        if self.note:
            out["note"] = self.note
        return out

    def sort_key(self) -> tuple[Any, ...]:
        rule = self.rule or {}
        return (KINDS.index(self.kind), self.host or "", rule.get("table") or "",
                rule.get("chain") or "", rule.get("rule_number") or 0, self.set or "",
                self.address or "", self.workloads, self.ports)


def _iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    text = at.isoformat()
    return text.replace("+00:00", "Z")


@dataclass(slots=True)
class DriftContext:
    """What drift needs beyond the graph: segments, history and when things began."""

    selectors: Mapping[str, Mapping[str, str]]
    intended: Mapping[tuple[str, str], PortSet] | None
    intent_since: datetime | None = None
    former_workloads: tuple[Workload, ...] = ()  # stopped before the fleet's time
    host_since: Callable[[str], datetime | None] = lambda host: None
    rule_zero_since: Callable[[str, Rule], datetime | None] = lambda host, rule: None
    managed_prefixes: tuple[str, ...] = DEFAULT_MANAGED_PREFIXES
    managed_rules: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # The window over which counters must move: each host's packets of a rule at the window's
    # first snapshot (None: unknown), the window's start, and the connections flow logs saw
    # accepted in it, as (source, destination, protocol, port).
    counters_then: Callable[[str, Rule], int | None] = lambda host, rule: None
    window_start: Callable[[str], datetime | None] = lambda host: None
    observed: Iterable[tuple[str, str, str, int | None]] = ()


def compute_drift(graph: EffectiveGraph, context: DriftContext) -> list[Finding]:
    """Every finding, sorted by kind, host and rule."""
    fleet = graph.fleet
    findings: list[Finding] = []
    if context.intended is not None:
        findings.extend(_missing(graph, context))
        findings.extend(_excess(graph, context))
    findings.extend(_stale(fleet, context))
    seen = _traffic_by_rule(graph, context.observed)
    for host in sorted(fleet.hosts):
        state = fleet.hosts[host]
        findings.extend(_shadowed(state, context))
        findings.extend(_unused(state, context, seen))
    findings.extend(_foreign(graph, context))
    return sorted(findings, key=Finding.sort_key)


def _segment(context: DriftContext, workload: Workload | None) -> str | None:
    if workload is None:
        return None
    names = segments_of(context.selectors, workload)
    return ",".join(names) if names else None


def _later(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _missing(graph: EffectiveGraph, context: DriftContext) -> Iterator[Finding]:
    assert context.intended is not None
    for (src, dst), wanted in sorted(context.intended.items()):
        if src not in graph.workloads or dst not in graph.workloads:
            continue
        pair = graph.pairs.get((src, dst))
        lacking = wanted - pair.allowed if pair is not None else wanted
        if not lacking:
            continue
        verdict = graph.pair(src, dst) if pair is None else pair
        blockers = verdict.blocking(lacking)
        source, destination = graph.workloads[src], graph.workloads[dst]
        if not blockers:
            yield _pair_finding("missing", destination.host, None, context, source, destination,
                                lacking, graph)
            continue
        for evidence, ports in _merge(blockers):
            yield _pair_finding("missing", evidence.host, evidence, context, source,
                                destination, ports, graph)


def _excess(graph: EffectiveGraph, context: DriftContext) -> Iterator[Finding]:
    assert context.intended is not None
    for pair in graph.edges():
        extra = pair.allowed - context.intended.get((pair.src, pair.dst), PortSet())
        if not extra:
            continue
        source, destination = graph.workloads[pair.src], graph.workloads[pair.dst]
        deciding = pair.ingress.deciding(extra, True)
        if not deciding:
            yield _pair_finding("excess", destination.host, None, context, source, destination,
                                extra, graph)
            continue
        for evidence, ports in _merge(deciding):
            yield _pair_finding("excess", evidence.host, evidence, context, source, destination,
                                ports, graph)


def _merge(items: Iterable[tuple[Evidence, PortSet]]) -> list[tuple[Evidence, PortSet]]:
    merged: dict[Evidence, PortSet] = {}
    for evidence, ports in items:
        merged[evidence] = merged[evidence] | ports if evidence in merged else ports
    return list(merged.items())


def _pair_finding(kind: str, host: str, evidence: Evidence | None, context: DriftContext,
                  src: Workload, dst: Workload, ports: PortSet,
                  graph: EffectiveGraph) -> Finding:
    since = _later(context.host_since(host), context.intent_since, src.started_at,
                   dst.started_at)
    note = evidence.note if evidence is not None else None
    return Finding(kind, host, evidence.rule_ref if evidence is not None else None, None, None,
                   _segment(context, src), _segment(context, dst), (src.name, dst.name),
                   tuple(ports.texts()), since, note)


# -- stale ------------------------------------------------------------------------------------

def _networks(workloads: Iterable[Workload]) -> set[Any]:
    """The /24 (IPv4) or /64 (IPv6) networks the fleet's workloads have lived in."""
    out = set()
    for workload in workloads:
        for text in workload.addresses:
            address = ipaddress.ip_address(text)
            prefix = 24 if address.version == 4 else 64
            out.add(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
    return out


def _named_addresses(state: HostState) -> Iterator[tuple[str, dict[str, Any] | None,
                                                         str | None, list[str]]]:
    """(address, rule ref or None, set name or None, other members) for every single address
    a host's rules or sets name."""
    rules = state.rules
    if rules is None:
        return
    for ruleset in rules.rulesets.values():
        for rule in ruleset.rules():
            for opt in rule.spec.base:
                if opt.name in ("source", "destination"):
                    for text in opt.value.split(","):
                        address = _single_address(text)
                        if address is not None:
                            yield address, _rule_ref(rule), None, []
    if rules.ipsets is not None:
        for ipset in rules.ipsets.sets.values():
            members = []
            for member in ipset.members:
                if member.nomatch:
                    continue
                for value in member.values[:1]:
                    address = _single_address(str(value))
                    if address is not None:
                        members.append(address)
            for address in members:
                yield address, None, ipset.name, members
    if rules.nft is not None:
        for table in rules.nft.tables.values():
            for nset in table.sets.values():
                members = [a for a in (_single_address(str(e)) for e in nset.elements
                                       if isinstance(e, str)) if a is not None]
                for address in members:
                    yield address, None, nset.name, members


def _single_address(text: str) -> str | None:
    try:
        network = ipaddress.ip_network(text.strip(), strict=True)
    except ValueError:
        return None
    if network.num_addresses != 1:
        return None
    return str(network.network_address)


def _rule_ref(rule: Rule) -> dict[str, Any]:
    return {"table": rule.table, "chain": rule.chain, "rule_number": rule.number,
            "line": rule.line}


def _stale(fleet: Fleet, context: DriftContext) -> Iterator[Finding]:
    owners: dict[str, Workload] = {}
    for workload in fleet.workloads:
        for text in workload.addresses:
            owners[str(ipaddress.ip_address(text))] = workload
    former: dict[str, list[Workload]] = {}
    for workload in context.former_workloads:
        for text in workload.addresses:
            former.setdefault(str(ipaddress.ip_address(text)), []).append(workload)
    host_addresses = {str(ipaddress.ip_address(a)) for s in fleet.hosts.values()
                      for a in s.addresses}
    spaces = _networks((*fleet.workloads, *context.former_workloads))
    for host in sorted(fleet.hosts):
        state = fleet.hosts[host]
        seen: set[tuple[str, str, str]] = set()
        for address, rule, set_name, members in _named_addresses(state):
            key = (address, repr(rule), set_name or "")
            if key in seen or address in host_addresses:
                continue
            seen.add(key)
            owner = owners.get(address)
            previous = former.get(address, [])
            since = context.host_since(host)
            if owner is None:
                ip = ipaddress.ip_address(address)
                if not previous and not any(ip in net for net in spaces if
                                            net.version == ip.version):
                    continue  # an address outside the fleet: not Segscope's to judge
                # A stopped workload's address is stale from its stop on, not from the
                # host's rules: until then its owner was live (as owner.started_at below).
                gone = _later(since, *(w.stopped_at for w in previous))
                yield Finding("stale", host, rule, set_name, address,
                              _segment(context, previous[-1] if previous else None), None,
                              tuple(w.name for w in previous), (), gone,
                              "no live workload owns this address")
                continue
            reason = _reused(context, owner, previous, members, owners, address)
            if reason:
                yield Finding("stale", host, rule, set_name, address,
                              _segment(context, previous[-1] if previous else None),
                              _segment(context, owner),
                              (*(w.name for w in previous), owner.name), (),
                              _later(since, owner.started_at), reason)


def _reused(context: DriftContext, owner: Workload, previous: list[Workload],
            members: list[str], owners: Mapping[str, Workload], address: str) -> str | None:
    """Why an address a rule or set names now reaches the wrong workload, if it does."""
    mine = set(segments_of(context.selectors, owner))
    for old in previous:
        theirs = set(segments_of(context.selectors, old))
        if theirs and theirs != mine:
            return (f"address reused: named for {old.name} ({', '.join(sorted(theirs))}), now "
                    f"owned by {owner.name} ({', '.join(sorted(mine)) or 'no segment'})")
    others = [owners[a] for a in members if a != address and a in owners]
    if len(others) >= 2:
        common: set[str] | None = None
        for other in others:
            segments = set(segments_of(context.selectors, other))
            common = segments if common is None else common & segments
        if common and not (common & mine):
            return (f"set members are {', '.join(sorted(common))}; this address is owned by "
                    f"{owner.name} ({', '.join(sorted(mine)) or 'no segment'})")
    return None


# -- shadowed, unused, foreign ----------------------------------------------------------------

def _shadowed(state: HostState, context: DriftContext) -> Iterator[Finding]:
    if state.rules is None:
        return
    for ruleset in state.rules.rulesets.values():
        for rule, reason in shadowed_rules(ruleset):
            yield Finding("shadowed", state.name, _rule_ref(rule), since=context.host_since(
                state.name), note=reason)


def _traffic_by_rule(graph: EffectiveGraph, observed: Iterable[tuple[str, str, str, int | None]]
                     ) -> dict[tuple[str, str, str, int], int]:
    """How many observed connections each accepting rule is the graph's evidence for."""
    counts: dict[tuple[str, str, str, int], int] = {}
    for src, dst, proto, port in observed:
        pair = graph.pairs.get((src, dst))
        if pair is None or not pair.allowed.contains(proto, port):
            continue
        ports = PortSet.of({proto: [(port or 0, port or 0)] if proto != "icmp" else [(0, 0)]})
        for evidence, _ in pair.evidence(ports):
            if evidence.rule_number is not None:
                key = (evidence.host, evidence.table, evidence.chain, evidence.rule_number)
                counts[key] = counts.get(key, 0) + 1
    return counts


def _unused(state: HostState, context: DriftContext,
            seen: Mapping[tuple[str, str, str, int], int]) -> Iterator[Finding]:
    """Accepting rules that never matched, or whose counters stood still over the window while
    the flow logs show connections the graph says they accept."""
    if state.rules is None:
        return
    for ruleset in state.rules.rulesets.values():
        for rule in ruleset.rules():
            if rule.table != "filter" or rule.target != "ACCEPT" or rule.packets is None:
                continue
            if _is_state_rule(rule):
                continue
            if not rule.packets:
                yield Finding("unused", state.name, _rule_ref(rule),
                              since=context.rule_zero_since(state.name, rule),
                              note="counters never moved: no packet has matched this rule")
                continue
            flows = seen.get((state.name, rule.table, rule.chain, rule.number), 0)
            if flows and context.counters_then(state.name, rule) == rule.packets:
                yield Finding("unused", state.name, _rule_ref(rule),
                              since=context.window_start(state.name),
                              note=f"counters did not move while flow logs show {flows} "
                                   "connection(s) the graph says this rule accepts")


def _is_state_rule(rule: Rule) -> bool:
    return any(m.module in ("conntrack", "state") for m in rule.spec.matches)


def rule_body(rule: Rule) -> str:
    """A rule's text without its counters, as a control plane writes it."""
    return _COUNTERS.sub("", rule.text)


def control_plane_rules(intent: Any, fleet: Fleet) -> dict[str, frozenset[str]]:
    """Per host, the rules Segscope's reference control plane would write for this intent
    (both with sets and per peer): such rules in base chains are managed, not foreign."""
    if not isinstance(intent, Intent):
        return {}
    specs = [WorkloadSpec(w.name, w.host, w.addresses, w.interface or None, w.attachment,
                          dict(w.labels)) for w in fleet.workloads]
    out = {}
    for host in fleet.hosts:
        bodies: set[str] = set()
        for use_sets in (True, False):
            rendered = render_host(host, intent, specs, use_sets=use_sets)
            bodies.update(rule_body(r) for r in
                          parse_iptables_save(rendered.iptables, "<rendered>").rules())
        out[host] = frozenset(bodies)
    return out


def _managed(host: str, evidence: Evidence, context: DriftContext,
             targets: Mapping[tuple[str, str, str, int], Rule]) -> bool:
    if evidence.policy or any(evidence.chain.startswith(p) for p in context.managed_prefixes):
        return True
    rule = targets.get((host, evidence.table, evidence.chain, evidence.rule_number or 0))
    if rule is None:
        return True  # nft rules: their chains name their owner; not judged here
    if rule.target and any(rule.target.startswith(p) for p in context.managed_prefixes):
        return True
    return rule_body(rule) in context.managed_rules.get(host, frozenset())


def _foreign(graph: EffectiveGraph, context: DriftContext) -> Iterator[Finding]:
    """Deciding rules that no managed chain holds and the control plane would not write."""
    targets: dict[tuple[str, str, str, int], Rule] = {}
    for host, state in graph.fleet.hosts.items():
        if state.rules is None:
            continue
        for ruleset in state.rules.rulesets.values():
            for rule in ruleset.rules():
                targets[(host, rule.table, rule.chain, rule.number)] = rule
    decided: dict[Evidence, set[str]] = {}
    for side in (*graph._ingress.values(), *graph._egress.values()):
        for verdicts in side.verdicts:
            for evidence, _ports in (*verdicts.accepted_by, *verdicts.denied_by):
                decided.setdefault(evidence, set())
    for pair in graph.pairs.values():
        for evidence, _ports in pair.evidence():
            decided.setdefault(evidence, set()).update((pair.src, pair.dst))
    seen: set[tuple[str, str, str, int | None]] = set()
    for evidence in sorted(decided, key=lambda e: (e.host, e.table, e.chain,
                                                   e.rule_number or 0)):
        key = (evidence.host, evidence.table, evidence.chain, evidence.rule_number)
        if key in seen or _managed(evidence.host, evidence, context, targets):
            continue
        seen.add(key)
        yield Finding("foreign", evidence.host, evidence.rule_ref,
                      workloads=tuple(sorted(decided[evidence]))[:20],
                      since=context.host_since(evidence.host),
                      note=f"decides {evidence.verdict} outside the managed chains: "
                           f"{rule_body(targets[(evidence.host, evidence.table, evidence.chain, evidence.rule_number or 0)])}")  # noqa: E501
