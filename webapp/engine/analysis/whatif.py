"""What a proposed change would do to a fleet, without applying it: the hosts' dumps copied and
rewritten (rewrite.py), the graph of the newest state updated for the changed hosts, and the
pairs, drift and blocked flows compared before and after."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from collectors.intent import IntentError
from webapp.engine.analysis.changes import ChangeError, ChangeSet, HostChange
from webapp.engine.analysis.edges import evidence_dicts
from webapp.engine.analysis.fleet import HostState, load_host_state
from webapp.engine.analysis.graph import EffectiveGraph, PairVerdict
from webapp.engine.analysis.offline import BundleAnalysis
from webapp.engine.analysis.ports import EMPTY, PortSet
from webapp.engine.analysis.rewrite import apply_changes
from webapp.engine.analysis.timeline import IntentVersion

PROTOCOL_NUMBERS = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp"}
BLOCKED = ("DROP", "REJECT")


class FleetChanger:
    """Host states of an analysis' newest state with changes applied, and the way back."""

    def __init__(self, analysis: BundleAnalysis) -> None:
        self.analysis = analysis
        self.timeline = analysis.timeline
        self.base: dict[str, HostState] = dict(analysis.fleet.hosts)

    def changed_state(self, host: str, changes: list[HostChange], filename: str) -> HostState:
        """The host's newest state with the changes applied to copies of its dumps."""
        first = changes[0]
        if host not in self.base:
            raise ChangeError(filename, first.line, f"unknown host {host!r}")
        position = self.timeline.snapshot_index(host, self.analysis.at)
        if position is None:
            raise ChangeError(filename, first.line, f"{host} has sent no snapshot")
        snapshot = self.timeline.snapshots[host][position]
        dumps = apply_changes(snapshot.dumps, changes, filename)
        base = self.base[host]
        local = [w for w in self.timeline.workloads if w.host == host]
        return load_host_state(host, dumps, base.collected_at, base.addresses, local,
                               base.labels)

    def apply(self, graph: EffectiveGraph, states: Iterable[HostState]) -> None:
        for state in states:
            graph.update_host(state)

    def restore(self, graph: EffectiveGraph, hosts: Iterable[str]) -> None:
        for host in hosts:
            graph.update_host(self.base[host])


def pair_ports(graph: EffectiveGraph) -> dict[tuple[str, str], PortSet]:
    return {key: pair.allowed for key, pair in graph.pairs.items()}


def diff_pairs(before: Mapping[tuple[str, str], PortSet], graph: EffectiveGraph,
               skip: tuple[str, str, PortSet] | None = None
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Pairs with ports newly allowed (their accepting rules) and ports newly blocked (the
    rules that block them now), as graph edges; `skip` leaves out one pair's ports."""
    opened, closed = [], []
    after = pair_ports(graph)
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, EMPTY), after.get(key, EMPTY)
        gained, lost = new - old, old - new
        if skip is not None and key == skip[:2]:
            gained = gained - skip[2]
        if gained:
            pair = graph.pairs[key]
            opened.append(edge(pair, gained, pair.evidence(gained)))
        if lost:
            pair = graph.pair(*key)
            closed.append(edge(pair, lost, pair.blocking(lost)))
    return opened, closed


def edge(pair: PairVerdict, ports: PortSet, evidence: Any) -> dict[str, Any]:
    """A graph edge (`segscope graph`'s shape) for some ports of a pair."""
    return {"src": pair.src, "dst": pair.dst, "allowed": ports.texts(),
            "evidence": evidence_dicts(evidence)}


def exposure(entries: Iterable[Mapping[str, Any]]) -> int:
    """(pair, port range) entries of some edges."""
    return sum(len(e["allowed"]) for e in entries)


def finding_key(finding: Mapping[str, Any], states: Mapping[str, HostState]) -> tuple[Any, ...]:
    """A drift finding without what a change moves (rule numbers and lines, `since`): the rule
    named by its text, so that a finding about an unchanged rule matches across the change."""
    rule = finding.get("rule")
    named: Any = None
    if rule:
        named = rule_text(states.get(finding.get("host") or ""), rule)
    rest = tuple(sorted((k, repr(v)) for k, v in finding.items()
                        if k not in ("rule", "since", "note")))
    return rest + (("rule", repr(named)),)


def rule_text(state: HostState | None, rule: Mapping[str, Any]) -> Any:
    """The text of the rule a finding or evidence names, on a host's state (a reference when
    the rule cannot be found)."""
    if rule.get("handle") is not None:
        return ("handle", rule.get("table"), rule.get("chain"), rule["handle"])
    if rule.get("policy") or state is None or state.rules is None:
        return tuple(sorted(rule.items()))
    number, line = rule.get("rule_number"), rule.get("line")
    table, name = str(rule.get("table")), str(rule.get("chain"))
    for compiled in state.rules.iptables.values():
        chain = compiled.tables.get(table, {}).get(name)
        if chain is not None and number and number <= len(chain.rules):
            found = chain.rules[number - 1].rule
            if line is None or found.line == line:
                return (table, name, _strip(found.text))
    return tuple(sorted(rule.items()))


def _strip(text: str) -> str:
    return text.split("]", 1)[1].strip() if text.startswith("[") else text


def diff_drift(before: list[dict[str, Any]], before_states: Mapping[str, HostState],
               after: list[dict[str, Any]], after_states: Mapping[str, HostState]
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Findings the change removes (as they read before) and those it adds (as they read
    after)."""
    old = {finding_key(f, before_states) for f in before}
    new = {finding_key(f, after_states) for f in after}
    fixed = [f for f in before if finding_key(f, before_states) not in new]
    created = [f for f in after if finding_key(f, after_states) not in old]
    return fixed, created


def flows_allowed(analysis: BundleAnalysis, before: Mapping[tuple[str, str], PortSet],
                  after: Mapping[tuple[str, str], PortSet], days: float,
                  records: Mapping[str, list[Any]] | None = None) -> list[dict[str, Any]]:
    """Blocked flow records of the last `days` (up to the newest data) that the change would
    have let through: their pair is allowed their port after it and was not before."""
    end = analysis.at or analysis.timeline.latest
    begin = end - timedelta(days=days) if end is not None else None
    owner = {str(ipaddress.ip_address(a)): w.name for w in analysis.fleet.workloads
             for a in w.addresses}
    out = []
    by_host = records if records is not None else analysis.flow_records()
    for host in sorted(by_host):
        for record in by_host[host]:
            if record.verdict not in BLOCKED or (begin is not None and record.start < begin):
                continue
            proto = PROTOCOL_NUMBERS.get(record.proto or -1)
            src, dst = owner.get(record.src), owner.get(record.dst)
            if not (proto and src and dst):
                continue
            port = record.dport if proto != "icmp" else None
            key = (src, dst)
            if after.get(key, EMPTY).contains(proto, port) and \
                    not before.get(key, EMPTY).contains(proto, port):
                out.append({**record.to_dict(), "host": host, "src_workload": src,
                            "dst_workload": dst})
    return sorted(out, key=lambda r: (r["start"], r["src"], r["dst"]))


def new_intent_version(analysis: BundleAnalysis, name: str, text: str, line: int,
                       filename: str) -> IntentVersion:
    """An intent file of a change, read as a bundle reads intent versions."""
    from collectors.policies import InventoryError, read_intent_document

    version = name.rsplit("/", 1)[-1].removesuffix(".yaml").removesuffix(".json")
    try:
        intent = read_intent_document(text, name, version)
    except IntentError as exc:
        raise ChangeError(filename, line, f"intent {name}: {exc.path}: {exc.reason}") from None
    except InventoryError as exc:
        raise ChangeError(filename, line, f"intent {name}: {exc.reason}") from None
    published = analysis.timeline.latest
    assert published is not None
    return IntentVersion(version, published, intent, text)


def use_intent(analysis: BundleAnalysis, version: IntentVersion) -> None:
    """Judge drift against another intent version from now on."""
    from webapp.engine.analysis.intended import segment_selectors

    analysis.intent_version = version
    analysis.intent = version.intent
    analysis.selectors = segment_selectors(version.intent, analysis.fleet.workloads)


def what_if(analysis: BundleAnalysis, changes: ChangeSet, days: float = 7,
            records: Mapping[str, list[Any]] | None = None) -> dict[str, Any]:
    """`segscope whatif --json`: opened, closed, drift_fixed, drift_created, flows_allowed.
    Every line is applied to the dumps before anything is evaluated, so that a line that
    cannot apply stops it all (ChangeError)."""
    changer = FleetChanger(analysis)
    states = {host: changer.changed_state(host, changes.on(host), changes.filename)
              for host in changes.hosts}
    version = (new_intent_version(analysis, changes.intent.name, changes.intent.text,
                                  changes.intent.line, changes.filename)
               if changes.intent is not None else None)
    graph = analysis.graph
    before = pair_ports(graph)
    before_states = dict(graph.fleet.hosts)
    drift_before = analysis.drift_json()["findings"]
    changer.apply(graph, states.values())
    if version is not None:
        use_intent(analysis, version)
    opened, closed = diff_pairs(before, graph)
    drift_after = analysis.drift_json()["findings"]
    fixed, created = diff_drift(drift_before, before_states, drift_after,
                                dict(graph.fleet.hosts))
    return {"opened": opened, "closed": closed, "drift_fixed": fixed,
            "drift_created": created,
            "flows_allowed": flows_allowed(analysis, before, pair_ports(graph), days, records)}
