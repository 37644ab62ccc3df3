"""The rules Segscope's reference control plane writes for an intent, host by host: drift
counts such rules in base chains as managed, not foreign."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Container, Iterator, Mapping
from dataclasses import replace
from typing import Any

from collectors.controlplane import WorkloadSpec, render_host
from collectors.intent import Intent
from collectors.iptables import Rule, parse_iptables_save
from webapp.engine.analysis.fleet import Fleet
from webapp.engine.analysis.intended import memberships

_COUNTERS = re.compile(r"^\[\d+:\d+\]\s*")


def rule_body(rule: Rule) -> str:
    """A rule's text without its counters, as a control plane writes it."""
    return _COUNTERS.sub("", rule.text)


def control_plane_rules(intent: Any, fleet: Fleet) -> dict[str, frozenset[str]]:
    """Per host, the rules Segscope's reference control plane would write for this intent
    (both with sets and per peer): such rules in base chains are managed, not foreign."""
    rules = ControlPlaneRules(intent, fleet)
    return {host: rules.bodies(host) for host in rules}


class _ControlPlaneIndex:
    """The inventory and intent indexed as one host's rendering reads them: workloads by host,
    each segment's members and each workload's allows (render_host matches every workload it
    is given against every segment, so it is given only those its host's rules read)."""

    def __init__(self, intent: Intent, fleet: Fleet) -> None:
        self.specs = [WorkloadSpec(w.name, w.host, w.addresses, w.interface or None,
                                   w.attachment, dict(w.labels)) for w in fleet.workloads]
        self.by_host: dict[str, list[int]] = {}
        for position, spec in enumerate(self.specs):
            self.by_host.setdefault(spec.host, []).append(position)
        positions = {spec.name: p for p, spec in enumerate(self.specs)}  # names are keys
        self.members = {name: sorted(positions[n] for n in names) for name, names in
                        memberships(intent.segments, fleet.workloads).items()}
        self.allows_into: dict[int, list[int]] = {}
        for number, allow in enumerate(intent.allows):
            dest = allow.destination
            targets = set(self.members[dest.segment]) if dest.segment is not None else set()
            if dest.cidr is not None:
                network = ipaddress.ip_network(dest.cidr)
                targets.update(p for p, spec in enumerate(self.specs)
                               if any(ipaddress.ip_address(a) in network
                                      for a in spec.addresses))
            for position in targets:
                self.allows_into.setdefault(position, []).append(number)

    def part(self, intent: Intent, host: str, use_sets: bool
             ) -> tuple[Intent, list[WorkloadSpec]]:
        """The allows into the host's workloads with the segments they name, and the host's
        workloads with (per peer) the members of those allows' source segments: render_host
        writes the same iptables text from these as from the whole intent and inventory
        (with sets, members are in the ipset text only)."""
        local = self.by_host.get(host, [])
        numbers = sorted({n for p in local for n in self.allows_into.get(p, ())})
        allows = tuple(intent.allows[n] for n in numbers)
        names = {peer.segment for a in allows for peer in (a.source, a.destination)
                 if peer.segment is not None}
        keep = set(local)
        for allow in allows:
            if allow.source.segment is not None and not use_sets:
                keep.update(self.members[allow.source.segment])
        segments = {n: s for n, s in intent.segments.items() if n in names}
        return (replace(intent, segments=segments, allows=allows),
                [self.specs[p] for p in sorted(keep)])


class _RuleBodies(Container[str]):
    """One host's control-plane rule bodies, with sets and per peer; the per-peer rendering
    (one rule per source address: the larger) only when a body is not among the others."""

    def __init__(self, render: Callable[[bool], frozenset[str]]) -> None:
        self._render = render
        self._styles: dict[bool, frozenset[str]] = {}

    def style(self, use_sets: bool) -> frozenset[str]:
        found = self._styles.get(use_sets)
        if found is None:
            found = self._styles[use_sets] = self._render(use_sets)
        return found

    def __contains__(self, body: object) -> bool:
        return body in self.style(True) or body in self.style(False)


class ControlPlaneRules(Mapping[str, Container[str]]):
    """control_plane_rules, rendered host by host on first use: a drift of one host renders
    that host's rules only."""

    def __init__(self, intent: Any, fleet: Fleet) -> None:
        self._given = intent
        self._intent = intent if isinstance(intent, Intent) else None
        self._fleet = Fleet(dict(fleet.hosts), fleet.workloads, fleet.at)  # as of now
        self._index: _ControlPlaneIndex | None = None
        self._hosts: dict[str, _RuleBodies] = {}

    def renders(self, intent: Any, fleet: Fleet) -> bool:
        """Whether these are the rules of `intent` over `fleet`'s workloads and hosts: what
        is rendered reads those, never the hosts' snapshots."""
        return (intent is self._given and fleet.workloads is self._fleet.workloads
                and fleet.hosts.keys() == self._fleet.hosts.keys())

    def __getitem__(self, host: str) -> _RuleBodies:
        if self._intent is None or host not in self._fleet.hosts:
            raise KeyError(host)
        found = self._hosts.get(host)
        if found is None:
            found = self._hosts[host] = _RuleBodies(lambda sets: self._render(host, sets))
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._fleet.hosts if self._intent is not None else ())

    def __len__(self) -> int:
        return len(self._fleet.hosts) if self._intent is not None else 0

    def bodies(self, host: str) -> frozenset[str]:
        """Every body of the host, both styles."""
        found = self[host]
        return found.style(True) | found.style(False)

    def _render(self, host: str, use_sets: bool) -> frozenset[str]:
        assert self._intent is not None
        if self._index is None:
            self._index = _ControlPlaneIndex(self._intent, self._fleet)
        part, specs = self._index.part(self._intent, host, use_sets)
        rendered = render_host(host, part, specs, use_sets=use_sets)
        return frozenset(rule_body(r) for r in
                         parse_iptables_save(rendered.iptables, "<rendered>").rules())
