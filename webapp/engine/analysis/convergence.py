"""Convergence: for every generation (an intent version, or workloads started, stopped or
relabelled), when each host that had something to change first held its desired state.

The contract (issue 8, point 5): a generation judges the (source, destination, port) whose
intended verdict it changes (a pair with a workload that did not exist counts as denied; the
first intent version judges every pair). A host holds a judged pair whose destination it hosts
when its ingress gives the intended verdict, and an allowed pair whose source it hosts when its
egress does not deny it; every pair toward a started workload is judged at the workload's host.
A stopped workload's generation asks the hosts whose rules or sets name its addresses to stop
naming them. A host is listed when at its last snapshot before the generation opened (or with
none) it did not hold its part; it converges at the first snapshot from the opening on that
holds it, or that holds the state of a later generation in force by then."""

from __future__ import annotations

import copy
import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from webapp.engine.analysis.drift import _iso, _single_address
from webapp.engine.analysis.fleet import Fleet, HostState, Workload
from webapp.engine.analysis.generations import (
    EVERYTHING,
    Generation,
    History,
    Pair,
    _wanted,
    generations,
)
from webapp.engine.analysis.graph import FAMILIES, EffectiveGraph, PairMap
from webapp.engine.analysis.ports import EMPTY, PortSet
from webapp.engine.analysis.probe import HostProbe


@dataclass(frozen=True, slots=True)
class HostConvergence:
    host: str
    converged_at: datetime | None
    seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "converged_at": _iso(self.converged_at),
                "seconds": self.seconds}


@dataclass(frozen=True, slots=True)
class GenerationReport:
    """One generation's convergence, as `segscope convergence --json` prints it."""

    generation: int
    cause: str
    intent: str | None
    opened_at: datetime
    hosts: tuple[HostConvergence, ...]
    drops: tuple[Mapping[str, Any], ...] = ()

    @property
    def seconds(self) -> list[float]:
        return sorted(h.seconds for h in self.hosts if h.seconds is not None)

    @property
    def stragglers(self) -> list[str]:
        return [h.host for h in self.hosts if h.converged_at is None]

    def to_dict(self) -> dict[str, Any]:
        seconds = self.seconds
        return {
            "generation": self.generation, "cause": self.cause, "intent": self.intent,
            "opened_at": _iso(self.opened_at),
            "hosts": [h.to_dict() for h in self.hosts],
            "p50": percentile(seconds, 50), "p95": percentile(seconds, 95),
            "max": seconds[-1] if seconds else None,
            "stragglers": self.stragglers,
            "converged": len(seconds), "listed": len(self.hosts),
            "drops_while_converging": list(self.drops),
        }


def percentile(values: Sequence[float], rank: float) -> float | None:
    """Nearest-rank percentile of sorted values: a time some host actually took."""
    if not values:
        return None
    position = max(1, math.ceil(rank / 100 * len(values)))
    return values[position - 1]


@dataclass(slots=True)
class _Part:
    """One host's judged pairs in a generation: by destination those it hosts (source,
    judged ports; None: every other workload of `everyone`, every port), and those whose
    source it hosts, sent elsewhere."""

    inbound: dict[str, list[tuple[str, PortSet]] | None] = field(default_factory=dict)
    outbound: list[tuple[Pair, PortSet]] = field(default_factory=list)
    everyone: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.inbound or self.outbound)


NO_PART = _Part()


def _parts(generation: Generation) -> dict[str, _Part]:
    """Each host's judged pairs: at the destination's host, and at the source's (elsewhere)
    when the generation allows the pair something."""
    where = {w.name: w.host for w in generation.workloads}
    out: dict[str, _Part] = {}
    if generation.judges_all:
        everyone = tuple(where)
        for dst, host in where.items() if len(everyone) > 1 else ():
            out.setdefault(host, _Part(everyone=everyone)).inbound[dst] = None
        for (src, dst), ports in generation.intended.items():
            src_host, dst_host = where.get(src), where.get(dst)
            if src_host is not None and dst_host is not None and src_host != dst_host and ports:
                out.setdefault(src_host, _Part(everyone=everyone)).outbound.append(
                    ((src, dst), EVERYTHING))
        return out
    for (src, dst), ports in generation.judged.items():
        dst_host = where.get(dst)
        if dst_host is not None:
            sources = out.setdefault(dst_host, _Part()).inbound.get(dst)
            if sources is None:
                sources = out[dst_host].inbound[dst] = []
            sources.append((src, ports))
        src_host = where.get(src)
        if src_host is not None and src_host != dst_host and generation.intended.get((src, dst)):
            out.setdefault(src_host, _Part()).outbound.append(((src, dst), ports))
    return out


class _Generations:
    """The generations with what compute_convergence reads of them, each worked out once."""

    def __init__(self, gens: list[Generation]) -> None:
        self.gens = gens
        self.opened = [g.opening.at for g in gens]
        self.names = {g.number: frozenset(w.name for w in g.workloads) for g in gens}
        self._parts: dict[int, dict[str, _Part]] = {}
        self.single: dict[Hashable, str | None] = {}  # a named value -> its address
        self._meets: dict[tuple[int, int], tuple[PortSet, PortSet, PortSet]] = {}
        # One probe a snapshot serves every generation when no two workloads share a name:
        # a pair's answer depends on the host's rules and the pair's two workloads only.
        everyone: dict[str, Workload] = {}
        self.base: EffectiveGraph | None = None  # built lazily, over every workload
        for workload in (w for g in gens for w in g.workloads):
            if everyone.setdefault(workload.name, workload) is not workload:
                break
        else:
            self.base = EffectiveGraph(Fleet({}, tuple(everyone.values())))

    def part(self, generation: Generation, host: str) -> _Part:
        parts = self._parts.get(generation.number)
        if parts is None:
            parts = self._parts[generation.number] = _parts(generation)
        return parts.get(host, NO_PART)

    def meet(self, a: PortSet, b: PortSet) -> PortSet:
        """a & b, worked out once per pair of port set objects (a history has few): the entry
        keeps both alive, so that their ids name them."""
        found = self._meets.get((id(a), id(b)))
        if found is None:
            found = self._meets[(id(a), id(b))] = (a, b, a & b)
        return found[2]

    def in_force(self, index: int, at: datetime) -> Generation:
        """The newest generation opened by `at`, no older than gens[index]."""
        return self.gens[max(index, bisect_right(self.opened, at) - 1)]


def _shared_probe(base: EffectiveGraph, state: HostState) -> HostProbe:
    """A probe of one snapshot over `base`'s workloads that reuses `base`'s address index and
    shares its templates: like destinations get the same answers on any host, at any time, as
    they do within one graph of the whole fleet."""
    graph = copy.copy(base)
    graph.fleet = Fleet({state.name: state}, base.fleet.workloads)
    graph._engines, graph._ingress, graph._egress = {}, {}, {}
    graph._into, graph._from, graph._combined, graph._keep = {}, {}, {}, []
    graph.pairs = PairMap(graph._into)
    probe = HostProbe.__new__(HostProbe)
    probe.host, probe.graph = state.name, graph
    return probe


def _named(state: HostState, single: dict[Hashable, str | None]) -> frozenset[str]:
    """The single addresses a host's rules or sets name (drift's _rule_addresses and
    _host_sets), reading each value once: the same set members come back in snapshot after
    snapshot."""
    rules = state.rules
    if rules is None:
        return frozenset()
    values: list[Any] = []
    for ruleset in rules.rulesets.values():
        for rule in ruleset.rules():
            for opt in rule.spec.base:
                if opt.name in ("source", "destination"):
                    values.extend(opt.value.split(","))
    if rules.ipsets is not None:
        values.extend(value for ipset in rules.ipsets.sets.values()
                      for member in ipset.members if not member.nomatch
                      for value in member.values[:1])
    if rules.nft is not None:
        values.extend(e for table in rules.nft.tables.values()
                      for nset in table.sets.values() for e in nset.elements
                      if isinstance(e, str))
    out = set()
    for value in values:
        key = value if type(value) is str else (type(value), value)
        address = single.get(key, "")
        if address == "":
            address = single[key] = _single_address(str(value))
        if address is not None:
            out.add(address)
    return frozenset(out)


class _HostCheck:
    """Whether one host holds its part of a generation at one of its snapshots; answers are
    kept by snapshot content, which repeats from one snapshot to the next."""

    def __init__(self, history: History, host: str, gens: _Generations) -> None:
        self.history, self.host, self.gens = history, host, gens
        self.times = history.snapshot_times(host)
        self.ordered = all(a <= b for a, b in zip(self.times, self.times[1:], strict=False))
        self._contents: dict[int, tuple[Hashable, HostState]] = {}
        self._probes: dict[Hashable, HostProbe] = {}
        self._named: dict[Hashable, frozenset[str]] = {}
        self._holds: dict[tuple[Hashable, int, int], bool] = {}

    def since(self, opened: datetime) -> tuple[int | None, list[int]]:
        """The last snapshot before `opened` and those from it on, in order."""
        if self.ordered:
            first = bisect_left(self.times, opened)
            return (first - 1 if first else None), list(range(first, len(self.times)))
        before = [i for i, t in enumerate(self.times) if t < opened]
        return (before[-1] if before else None), [
            i for i, t in enumerate(self.times) if not t < opened]

    def content(self, position: int) -> tuple[Hashable, HostState]:
        found = self._contents.get(position)
        if found is None:
            state = self.history.host_state(self.host, position)
            rules = state.rules
            key: Hashable = ("at", position) if state.snapshot_hash is None else (
                state.snapshot_hash, state.addresses, tuple(sorted(state.labels.items())),
                rules is None, rules.local_addresses if rules is not None else None)
            found = self._contents[position] = (key, state)
        return found

    def probe(self, key: Hashable, state: HostState, judge: Generation) -> HostProbe:
        base = self.gens.base
        probe_key = (key, 0 if base is not None else judge.number)
        found = self._probes.get(probe_key)
        if found is None:
            found = self._probes[probe_key] = (
                _shared_probe(base, state) if base is not None
                else HostProbe(state, judge.workloads))
        return found

    def holds(self, position: int | None, generation: Generation,
              judge: Generation) -> bool:
        """At a snapshot, the host holds `generation`'s part with `judge`'s intended verdicts."""
        part, forget = self.gens.part(generation, self.host), generation.forget
        if not part and not forget:
            return True
        if position is None:
            return False
        key, state = self.content(position)
        memo = (key, generation.number, judge.number)
        found = self._holds.get(memo)
        if found is None:
            found = self._holds[memo] = self._holds_now(key, state, part, forget, judge)
        return found

    def _holds_now(self, key: Hashable, state: HostState, part: _Part,
                   forget: Mapping[str, tuple[str, ...]], judge: Generation) -> bool:
        # The probe knows every workload of the judge (and, shared, others too): a pair
        # whose workload is gone by the judging generation is not asked about.
        probe = self.probe(key, state, judge)
        names = self.gens.names[judge.number]
        meet, graph = self.gens.meet, probe.graph
        intended = _wanted(judge.intended)
        for dst, sources in part.inbound.items():
            if dst not in names:
                continue
            destination = graph.workloads[dst]
            sides = [(graph._ingress_side(family, destination), graph._position[family])
                     for family in FAMILIES if destination.address(family) is not None]
            for src, ports in sources if sources is not None else (
                    (src, EVERYTHING) for src in part.everyone if src != dst):
                if src not in names:
                    continue
                allowed = EMPTY  # probe.ingress, with the destination's sides read once
                for side, positions in sides:
                    position = positions.get(src)
                    if position is not None:
                        verdicts = side.individual.get(src) or side.at(position)
                        allowed = allowed | verdicts.allowed
                wanted = intended((src, dst))
                # Intended ports are over the graph's protocols: all of them leaves them be.
                if ports is not EVERYTHING:
                    wanted = meet(wanted, ports)
                if meet(allowed, ports) != wanted:
                    return False
        for (src, dst), ports in part.outbound:
            if src in names and dst in names and (
                    meet(intended((src, dst)), ports) - probe.egress(src, dst)):
                return False
        if forget:
            named = self._named.get(key)
            if named is None:
                named = self._named[key] = _named(state, self.gens.single)
            if not named.isdisjoint(forget):
                return False
        return True


DropCounter = Callable[[str, "Generation", datetime | None], list[Mapping[str, Any]]]


def compute_convergence(history: History, drops: DropCounter | None = None,
                        known: Mapping[int, GenerationReport] | None = None
                        ) -> list[GenerationReport]:
    """Every generation's convergence report; `drops(host, generation, converged_at)` lists
    what a listed host dropped that the generation allows, while it had not converged.
    `known` gives reports that cannot have changed (by generation number), taken as they are."""
    gens = _Generations(generations(history))
    checks: dict[str, _HostCheck] = {}
    reports = []
    for index, generation in enumerate(gens.gens):
        reused = known.get(generation.number) if known is not None else None
        if reused is not None:
            reports.append(reused)
            continue
        opened = generation.opening.at
        rows = []
        dropped: list[Mapping[str, Any]] = []
        for host in history.hosts:
            if not gens.part(generation, host) and not generation.forget:
                continue
            check = checks.get(host)
            if check is None:
                check = checks[host] = _HostCheck(history, host, gens)
            last, positions = check.since(opened)
            if check.holds(last, generation, generation):
                continue
            converged_at = None
            for position in positions:
                at = check.times[position]
                judge = gens.in_force(index, at)
                if check.holds(position, generation, generation) or (
                        judge is not generation and check.holds(position, judge, judge)
                        and check.holds(position, generation, judge)):
                    converged_at = at
                    break
            seconds = (converged_at - opened).total_seconds() if converged_at else None
            rows.append(HostConvergence(host, converged_at, seconds))
            if drops is not None:
                dropped.extend(drops(host, generation, converged_at))
        reports.append(GenerationReport(generation.number, generation.opening.cause,
                                        generation.intent, opened, tuple(rows),
                                        tuple(dropped)))
    return reports


def reports_to_dict(reports: Iterable[GenerationReport]) -> dict[str, Any]:
    return {"generations": [r.to_dict() for r in reports]}
