"""The cost of segmentation: rules and set members per host, what the same policy would take
without sets (the flat-ACL equivalent), rules a NEW packet is checked against before its verdict,
and how fast the fleet's rules change against what its workload churn asks for."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from webapp.engine.analysis.drift import _iso
from webapp.engine.analysis.fleet import Fleet, HostState
from webapp.engine.analysis.managed import rule_body
from webapp.engine.analysis.ports import PortSet
from webapp.engine.explanation import Explanation
from webapp.engine.host import HostRules
from webapp.engine.packet import Packet


@dataclass(frozen=True, slots=True)
class HostCost:
    """One host at one snapshot."""

    host: str
    at: datetime | None
    rules: int
    set_members: int
    flat_rules: int
    traversed_avg: float | None = None
    traversed_max: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "at": _iso(self.at), "rules": self.rules,
                "set_members": self.set_members, "flat_rules": self.flat_rules,
                "traversed_avg": self.traversed_avg, "traversed_max": self.traversed_max}


def set_sizes(rules: HostRules) -> dict[str, int]:
    """Members per set (ipset, list:set expanded; nft named sets), by name."""
    sizes: dict[str, int] = {}
    if rules.ipsets is not None:
        dump = rules.ipsets

        def size(name: str, seen: frozenset[str]) -> int:
            ipset = dump.sets.get(name)
            if ipset is None or name in seen:
                return 0
            if ipset.set_type == "list:set":
                return sum(size(str(m.values[0]), seen | {name}) for m in ipset.members)
            return len(ipset.members)

        for name in dump.sets:
            sizes[name] = size(name, frozenset())
    if rules.nft is not None:
        for table in rules.nft.tables.values():
            for nset in table.sets.values():
                sizes[f"@{nset.name}"] = len(nset.elements)
    return sizes


def rule_counts(rules: HostRules) -> tuple[int, int, int]:
    """(rules, set members, flat-ACL rules): each set lookup in a rule counts once per member
    in the flat form, as a control plane without sets would have to write it."""
    sizes = set_sizes(rules)
    members = sum(size for name, size in sizes.items()
                  if rules.ipsets is None or name in rules.ipsets.sets
                  and rules.ipsets.sets[name].set_type != "list:set")
    total = flat = 0
    for ruleset in rules.rulesets.values():
        for rule in ruleset.rules():
            total += 1
            factor = 1
            for match in rule.spec.matches:
                for opt in match.options:
                    if opt.name == "match-set" and opt.args:
                        factor *= max(1, sizes.get(opt.args[0], 1))
            flat += factor
    if rules.nft is not None:
        for nft_rule in rules.nft.rules():
            if (nft_rule.family, nft_rule.table) in _iptables_tables(rules):
                continue
            total += 1
            factor = 1
            for name in _nft_set_refs(nft_rule.expr):
                factor *= max(1, sizes.get(name, 1))
            flat += factor
    return total, members, flat


def _iptables_tables(rules: HostRules) -> set[tuple[str, str]]:
    return {("ip" if family == 4 else "ip6", table)
            for family, compiled in rules.iptables.items() for table in compiled.tables}


def _nft_set_refs(node: Any) -> Iterable[str]:
    if isinstance(node, str) and node.startswith("@"):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _nft_set_refs(value)
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _nft_set_refs(item)


def traversed(rules: HostRules, explanation: Explanation, family: int) -> int:
    """Rules a packet was checked against: in every chain it entered, the rules before the one
    that moved it on (jump, goto, verdict), or the whole chain when it fell off the end."""
    compiled = rules.iptables.get(family)
    count = 0
    for step in explanation.trace:
        if step.kind in ("jump", "goto") and step.rule_number:
            count += step.rule_number
        elif step.kind in ("return", "policy") and step.rule_number is None:
            chain = compiled.tables.get(step.table, {}).get(step.chain) if compiled else None
            count += len(chain.rules) if chain is not None else 0
    decision = explanation.decided_by
    if decision is not None and not decision.policy and decision.rule_number:
        count += decision.rule_number
    return count


def host_cost(state: HostState, fleet: Fleet | None = None,
              ports: Mapping[str, PortSet] | None = None) -> HostCost:
    """A host's counts; with the fleet, rules traversed for a NEW connection from every other
    workload to each of its workloads on the first port the intent names for it (or tcp/80)."""
    if state.rules is None:
        return HostCost(state.name, state.collected_at, 0, 0, 0)
    total, members, flat = rule_counts(state.rules)
    walked: list[int] = []
    if fleet is not None:
        for dst in fleet.on_host(state.name):
            for family in (4, 6):
                dst_text = dst.address(family)
                if dst_text is None or (family not in state.rules.iptables):
                    continue
                proto, port = _probe_port(ports.get(dst.name) if ports else None)
                hook = "FORWARD" if dst.attachment == "bridged" else "INPUT"
                for src in fleet.workloads:
                    src_text = src.address(family)
                    if src_text is None or src.name == dst.name:
                        continue
                    in_iface = src.interface if src.host == state.name else state.uplink
                    packet = Packet(src_text, dst_text, proto, 40000 if port else None, port,
                                    in_iface=in_iface,
                                    out_iface=dst.interface if hook == "FORWARD" else None)
                    walked.append(traversed(state.rules, state.rules.explain(packet, hook),
                                            family))
    average = round(sum(walked) / len(walked), 2) if walked else None
    return HostCost(state.name, state.collected_at, total, members, flat, average,
                    max(walked) if walked else None)


def _probe_port(ports: PortSet | None) -> tuple[str, int | None]:
    if ports:
        for proto, spans in ports.ranges:
            if proto in ("tcp", "udp"):
                return proto, spans[0][0]
    return "tcp", 80


@dataclass(frozen=True, slots=True)
class Activation:
    """Rule and set-member changes per second across the fleet, against what churn needs."""

    changes: int
    seconds: float
    needed: int

    def to_dict(self) -> dict[str, Any]:
        rate = self.changes / self.seconds if self.seconds else None
        need = self.needed / self.seconds if self.seconds else None
        return {"changes": self.changes, "seconds": self.seconds,
                "per_second": round(rate, 3) if rate is not None else None,
                "needed": self.needed,
                "needed_per_second": round(need, 3) if need is not None else None}


def changes_between(old: HostRules | None, new: HostRules | None) -> int:
    """Rules and set members added or removed from one snapshot to the next."""
    return sum((_inventory(new) - _inventory(old)).values()) + sum(
        (_inventory(old) - _inventory(new)).values())


def _inventory(rules: HostRules | None) -> Counter[tuple[str, ...]]:
    out: Counter[tuple[str, ...]] = Counter()
    if rules is None:
        return out
    for ruleset in rules.rulesets.values():
        for rule in ruleset.rules():
            out[("rule", rule.table, rule.chain, rule_body(rule))] += 1
    if rules.ipsets is not None:
        for ipset in rules.ipsets.sets.values():
            for member in ipset.members:
                out[("member", ipset.name, " ".join(str(v) for v in member.values))] += 1
    return out


def activation(series: Mapping[str, Sequence[HostState]], needed: int) -> Activation:
    """Fleet-wide changes over the span of the snapshot series (each host in time order)."""
    changes = 0
    times: list[datetime] = []
    for states in series.values():
        previous = None
        for state in states:
            if state.collected_at is not None:
                times.append(state.collected_at)
            if previous is not None:
                changes += changes_between(previous.rules, state.rules)
            previous = state
    seconds = (max(times) - min(times)).total_seconds() if len(times) > 1 else 0.0
    return Activation(changes, seconds, needed)
