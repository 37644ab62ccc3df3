"""The analyses of an offline bundle, as the `segscope graph|drift|convergence` commands print
them: no database, the same engine the server runs."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from collectors.iptables import Rule
from webapp.engine.analysis.convergence import compute_convergence, reports_to_dict
from webapp.engine.analysis.drift import DriftContext, compute_drift
from webapp.engine.analysis.drops import DropLedger
from webapp.engine.analysis.edges import segment_edges, workload_edges
from webapp.engine.analysis.generations import History
from webapp.engine.analysis.graph import EffectiveGraph, compute_graph
from webapp.engine.analysis.intended import intended_pairs, segment_selectors
from webapp.engine.analysis.managed import ControlPlaneRules, rule_body
from webapp.engine.analysis.ports import PortSet
from webapp.engine.analysis.timeline import Timeline, load_timeline

# An accepting rule whose counters stand still this long while flows show its traffic is unused.
UNUSED_WINDOW = timedelta(hours=1)
_COUNTERS = re.compile(r"\[\d+:\d+\]|\"counter\": \{[^}]*\}|packets \d+ bytes \d+")


class BundleAnalysis:
    """A bundle's graph, drift and convergence at one time (None: its newest state)."""

    def __init__(self, root: Path | Timeline, at: datetime | None = None) -> None:
        self.timeline = root if isinstance(root, Timeline) else load_timeline(root)
        self.at = at
        self.fleet = self.timeline.fleet_at(at)
        version = self.timeline.intent_at(at)
        self.intent_version = version
        self.intent = version.intent if version is not None else None
        self.selectors = segment_selectors(self.intent, self.fleet.workloads)
        self._graph: EffectiveGraph | None = None
        self._drift: tuple[tuple[Any, ...], DriftContext] | None = None
        self._inherited: DriftContext | None = None
        self._since: dict[str, datetime | None] = {}

    @property
    def graph(self) -> EffectiveGraph:
        if self._graph is None:
            self._graph = compute_graph(self.fleet)
        return self._graph

    def graph_json(self, level: str = "workload") -> dict[str, Any]:
        if level == "segment":
            return {"edges": segment_edges(self.graph, self.selectors)}
        return {"edges": workload_edges(self.graph)}

    @property
    def namespaces(self) -> dict[str, Any]:
        """Namespace labels the inventory gives (for NetworkPolicy namespace selectors)."""
        bundle = self.timeline.bundle
        inventory = bundle.inventory if bundle is not None else None
        return dict(getattr(inventory, "namespaces", None) or {})

    def drift_json(self, hosts: Collection[str] | None = None) -> dict[str, Any]:
        """`segscope drift --json`; with `hosts`, only the findings naming one of them, the
        same and in the same order as in the whole list, computed for those hosts only.

        Calls with `hosts` share one context (intended pairs, flows, address owners: built
        by the first call) while the intent, the workloads and the hosts are the same
        objects; a call without `hosts` reads everything afresh."""
        if hosts is None:
            context = self._drift_context()
        else:
            key = self._drift_key()
            if self._drift is None or not _same(self._drift[0], key):
                self._drift = (key, self._drift_context())
            context = self._drift[1]
        return {"findings": [f.to_dict() for f in compute_drift(self.graph, context, hosts)]}

    def inherit_drift(self, previous: BundleAnalysis) -> None:
        """Take over the intended pairs, former workloads and fleet-wide drift indexes of
        `previous`, an analysis of the same intent and workloads at another time (the caller
        knows they are the same): they cost seconds to build at fleet scale."""
        self._inherited = previous._drift[1] if previous._drift is not None else None

    def _drift_context(self) -> DriftContext:
        base = self._inherited
        if base is not None:
            intended, former = base.intended, base.former_workloads
        else:
            intended = (intended_pairs(self.intent, self.fleet.workloads, self.namespaces)
                        if self.intent is not None else None)
            former = tuple(w for w in self.timeline.workloads
                           if w.stopped_at is not None and not w.live_at(self.at))
        managed = base.managed_rules if base is not None else None
        if not (isinstance(managed, ControlPlaneRules) and managed.renders(self.intent,
                                                                            self.fleet)):
            managed = self._managed_rules()  # rendering a host costs more than its drift
        selectors: Mapping[str, Mapping[str, str]] = self.selectors
        if base is not None and base.selectors == selectors:
            # The same segments: the indexes built on the earlier selectors (segments by
            # labels, findings by set) stay valid, and _cached knows them by identity.
            selectors = base.selectors
        context = DriftContext(
            selectors, intended,
            intent_since=self.intent_version.published_at if self.intent_version else None,
            former_workloads=former,
            host_since=self._host_since, rule_zero_since=self._rule_zero_since,
            managed_rules=managed, counters_then=self._counters_then,
            window_start=self._window_start, observed=self._observed(),
            observed_touching=self._observed_touching())
        if base is not None:
            # Each index names the objects it was built from: one built from what changed
            # (the hosts, the flows) is built again.
            context.memo.update(base.memo)
            self._inherited = None  # no chain of earlier analyses kept alive
        return context

    def _drift_key(self) -> tuple[Any, ...]:
        """What a drift context is made of: the same objects, the same context."""
        return (self.timeline, self.at, self.intent_version, self.intent, self.selectors,
                self.fleet, self.fleet.workloads, tuple(self.fleet.hosts))

    def convergence_json(self) -> dict[str, Any]:
        timeline = self.timeline
        history = History(
            [(v.version, v.published_at, v.intent) for v in timeline.intents],
            timeline.workloads, timeline.host_names(),
            lambda host: [s.collected_at for s in timeline.snapshots.get(host, [])],
            timeline.host_state, self.namespaces)
        return reports_to_dict(compute_convergence(history, DropLedger(self.flow_records())))

    def flow_records(self) -> dict[str, list[Any]]:
        """The bundle's flow records by observing host; unreadable lines are left out (the
        ingest reports them)."""
        from collectors.flowlogs import UnknownFormatError, parse_any

        out: dict[str, list[Any]] = {}
        bundle = self.timeline.bundle
        for flow in bundle.flows if bundle is not None else ():
            try:
                result = parse_any(flow.text, flow.path)
            except UnknownFormatError:
                continue
            out.setdefault(flow.host, []).extend(result.records)
        return out

    def cost_json(self) -> dict[str, Any]:
        """Per host over time, fleet-wide totals over time, traversal now, activation rate."""
        from webapp.engine.analysis.cost import activation, host_cost

        timeline = self.timeline
        intended = (intended_pairs(self.intent, self.fleet.workloads, self.namespaces)
                    if self.intent is not None else {})
        by_dst: dict[str, PortSet] = {}
        for (_, dst), ports in intended.items():
            by_dst[dst] = by_dst.get(dst, PortSet()) | ports
        hosts = []
        series: dict[str, list[Any]] = {}
        for host in timeline.host_names():
            last = timeline.snapshot_index(host, self.at)
            states = [timeline.host_state(host, i) for i in range(last + 1)] \
                if last is not None else []
            series[host] = states
            for i, state in enumerate(states):
                now = i == len(states) - 1
                hosts.append(host_cost(state, self.fleet if now else None,
                                       by_dst if now else None).to_dict())
        fleet = []
        times = sorted({h["at"] for h in hosts if h["at"]})
        for at in times:
            latest: dict[str, dict[str, Any]] = {}
            for entry in hosts:
                if entry["at"] and entry["at"] <= at:
                    latest[entry["host"]] = entry
            fleet.append({"at": at, **{key: sum(e[key] for e in latest.values())
                                       for key in ("rules", "set_members", "flat_rules")}})
        churn = {w.name for w in timeline.workloads
                 if _within(w.started_at, timeline) or _within(w.stopped_at, timeline)}
        needed = sum(len(p.ranges) for (s, d), p in intended.items() if s in churn or d in churn)
        return {"hosts": hosts, "fleet": fleet,
                "activation": activation(series, needed).to_dict()}

    # -- the window over which counters must move ------------------------------------------

    def _window_position(self, host: str) -> int | None:
        """The host's first snapshot inside the window ending at its newest one, if that is
        an earlier snapshot."""
        position = self._position(host)
        if position is None:
            return None
        series = self.timeline.snapshots[host]
        newest = series[position].collected_at
        for index in range(position):
            if series[index].collected_at >= newest - UNUSED_WINDOW:
                return index
        return None

    def _window_start(self, host: str) -> datetime | None:
        index = self._window_position(host)
        return self.timeline.snapshots[host][index].collected_at if index is not None else None

    def _counters_then(self, host: str, rule: Rule) -> int | None:
        index = self._window_position(host)
        if index is None:
            return None
        rules = self.timeline.host_state(host, index).rules
        body = rule_body(rule)
        for ruleset in rules.rulesets.values() if rules is not None else ():
            for candidate in ruleset.rules():
                if candidate.chain == rule.chain and rule_body(candidate) == body:
                    return candidate.packets
        return None

    def _observed_touching(self) -> Callable[[frozenset[str]], Iterable[
            tuple[str, str, str, int | None]]] | None:
        """A reader of the observed connections of some workloads only; None: a bundle's
        flows are read whole."""
        return None

    def _observed_window(self) -> tuple[datetime, datetime | None] | None:
        """Where the observed connections start and end: the earliest unused-rule window's
        start and the fleet's time; None when no host has a window."""
        starts = [s for s in (self._window_start(h) for h in self.fleet.hosts) if s]
        if not starts:
            return None
        return min(starts), self.at or self.timeline.latest

    def _observed(self) -> Iterable[tuple[str, str, str, int | None]]:
        """Connections the flow logs saw accepted (or not refused) inside the window."""
        window = self._observed_window()
        if window is None:
            return []
        begin, end = window
        owner = {str(ipaddress.ip_address(a)): w.name for w in self.fleet.workloads
                 for a in w.addresses}
        seen = []
        for records in self.flow_records().values():
            for record in records:
                if record.verdict in ("DROP", "REJECT") or record.start < begin or (
                        end is not None and record.start > end):
                    continue
                proto = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp"}.get(record.proto or -1)
                src, dst = owner.get(record.src), owner.get(record.dst)
                if proto and src and dst:
                    seen.append((src, dst, proto, record.dport if proto != "icmp" else None))
        return seen

    # -- since when ------------------------------------------------------------------------

    def _position(self, host: str) -> int | None:
        return self.timeline.snapshot_index(host, self.at)

    def _host_since(self, host: str) -> datetime | None:
        """The first snapshot of the run, ending now, whose rules read as the current ones
        (worked out once a host: every stale rule of the host asks)."""
        if host not in self._since:
            self._since[host] = self._rules_since(host)
        return self._since[host]

    def _rules_since(self, host: str) -> datetime | None:
        position = self._position(host)
        if position is None:
            return None
        series = self.timeline.snapshots[host]
        current = _content(series[position].dumps)
        while position > 0 and _content(series[position - 1].dumps) == current:
            position -= 1
        return series[position].collected_at

    def _rule_zero_since(self, host: str, rule: Rule) -> datetime | None:
        position = self._position(host)
        if position is None:
            return None
        series = self.timeline.snapshots[host]
        body = rule_body(rule)
        since = series[position].collected_at
        while position > 0:
            position -= 1
            state = self.timeline.host_state(host, position)
            rules = state.rules
            ruleset = rules.rulesets.get(4 if ":" not in rule.text else 6) if rules else None
            found = [r for r in (ruleset.rules() if ruleset else ())
                     if r.chain == rule.chain and rule_body(r) == body]
            if not found or found[0].packets:
                break
            since = series[position].collected_at
        return since

    def _managed_rules(self) -> ControlPlaneRules:
        # Rendered host by host when a rule needs it: one host's drift renders one host.
        return ControlPlaneRules(self.intent, self.fleet)


def _within(at: datetime | None, timeline: Timeline) -> bool:
    return (at is not None and timeline.earliest is not None and timeline.latest is not None
            and timeline.earliest < at <= timeline.latest)


def _same(known: tuple[Any, ...], key: tuple[Any, ...]) -> bool:
    """Objects compared by identity, names (a tuple of host names) by value."""
    return all(a is b or (isinstance(a, tuple) and a == b)
               for a, b in zip(known, key, strict=True))


def _content(dumps: Any) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name, _COUNTERS.sub("", text)) for name, text in dumps.items()
                        if name != "conntrack.txt"))
