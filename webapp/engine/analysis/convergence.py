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

import ipaddress
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from webapp.engine.analysis.drift import _iso, _named_addresses
from webapp.engine.analysis.fleet import HostState, Workload
from webapp.engine.analysis.intended import intended_pairs
from webapp.engine.analysis.ports import PortSet
from webapp.engine.analysis.probe import HostProbe

Pair = tuple[str, str]
EVERYTHING = PortSet.everything()


@dataclass(frozen=True, slots=True)
class Opening:
    """What opened a generation: an intent version and/or membership changes at one time."""

    at: datetime
    intent_version: str | None = None  # set when a new intent version opened it
    started: tuple[str, ...] = ()
    stopped: tuple[str, ...] = ()
    relabelled: tuple[str, ...] = ()

    @property
    def cause(self) -> str:
        parts = []
        if self.intent_version is not None:
            parts.append(f"intent {self.intent_version}")
        for verb, names in (("started", self.started), ("stopped", self.stopped),
                            ("relabelled", self.relabelled)):
            if names:
                parts.append(f"{verb} {', '.join(names)}")
        return "; ".join(parts)


@dataclass(slots=True)
class Generation:
    """A generation's judged pairs and addresses to forget, with what each host owes."""

    number: int
    opening: Opening
    intent: str | None
    workloads: tuple[Workload, ...]  # live once it opened
    intended: dict[Pair, PortSet]
    judged: dict[Pair, PortSet] = field(default_factory=dict)  # pair -> judged ports
    started: frozenset[str] = frozenset()
    forget: dict[str, tuple[str, ...]] = field(default_factory=dict)  # address -> workloads


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


class History:
    """What convergence reads: intents over time, workloads, and each host's snapshots."""

    def __init__(self, intents: Sequence[tuple[str, datetime, Any]],
                 workloads: Sequence[Workload], hosts: Sequence[str],
                 snapshot_times: Callable[[str], list[datetime]],
                 host_state: Callable[[str, int], HostState],
                 namespaces: Mapping[str, Mapping[str, str]] | None = None,
                 relabels: Sequence[tuple[datetime, Workload, Workload]] = ()) -> None:
        self.intents = sorted(intents, key=lambda item: (item[1], item[0]))
        self.workloads = tuple(workloads)
        self.hosts = list(hosts)
        self.snapshot_times = snapshot_times
        self.host_state = host_state
        self.namespaces = namespaces or {}
        self.relabels = tuple(relabels)

    def intent_at(self, at: datetime) -> tuple[str, Any] | None:
        chosen = None
        for version, published, intent in self.intents:
            if published <= at:
                chosen = (version, intent)
        return chosen

    def live_at(self, at: datetime) -> tuple[Workload, ...]:
        return tuple(w for w in self.workloads if w.live_at(at))


def openings(history: History) -> list[Opening]:
    """Generation openings in time order, starting with the first intent version."""
    if not history.intents:
        return []
    first = history.intents[0][1]
    events: dict[datetime, dict[str, Any]] = {}
    for version, published, _ in history.intents:
        events.setdefault(published, {})["intent"] = version
    for workload in history.workloads:
        if workload.started_at is not None and workload.started_at > first:
            events.setdefault(workload.started_at, {}).setdefault("started", []).append(
                workload.name)
        if workload.stopped_at is not None and workload.stopped_at > first:
            events.setdefault(workload.stopped_at, {}).setdefault("stopped", []).append(
                workload.name)
    for at, _old, new in history.relabels:
        if at > first:
            events.setdefault(at, {}).setdefault("relabelled", []).append(new.name)
    out = []
    for at in sorted(events):
        event = events[at]
        out.append(Opening(at, event.get("intent"), tuple(sorted(event.get("started", ()))),
                           tuple(sorted(event.get("stopped", ()))),
                           tuple(sorted(event.get("relabelled", ())))))
    return out


def generations(history: History) -> list[Generation]:
    """Every generation with its judged pairs (the contract in the module docstring)."""
    out: list[Generation] = []
    previous: Generation | None = None
    for number, opening in enumerate(openings(history), start=1):
        current = history.intent_at(opening.at)
        version, intent = current if current is not None else (None, None)
        live = history.live_at(opening.at)
        intended = intended_pairs(intent, live, history.namespaces)
        generation = Generation(number, opening, version, live, intended,
                                started=frozenset(opening.started))
        names = [w.name for w in live]
        if previous is None:
            generation.judged = {(s, d): EVERYTHING for s in names for d in names if s != d}
        else:
            before = previous.intended
            existed = {w.name for w in previous.workloads}
            for pair in set(intended) | set(before):
                if pair[0] not in names or pair[1] not in names:
                    continue
                old = before.get(pair, PortSet()) if set(pair) <= existed else PortSet()
                new = intended.get(pair, PortSet())
                changed = (new - old) | (old - new)
                if changed:
                    generation.judged[pair] = changed
            for name in opening.started:
                for src in names:
                    if src != name:
                        generation.judged[(src, name)] = EVERYTHING
        for name in opening.stopped:
            workload = next((w for w in history.workloads if w.name == name), None)
            for text in workload.addresses if workload is not None else ():
                address = str(ipaddress.ip_address(text))
                if not any(address in (str(ipaddress.ip_address(a)) for a in w.addresses)
                           for w in live):
                    generation.forget.setdefault(address, ())
                    generation.forget[address] += (name,)
        out.append(generation)
        previous = generation
    return out


class _HostCheck:
    """Whether one host holds its part of a generation at one of its snapshots."""

    def __init__(self, history: History, host: str) -> None:
        self.history, self.host = history, host
        self._probes: dict[tuple[int, int], HostProbe] = {}

    def probe(self, position: int, generation: Generation) -> HostProbe:
        key = (position, generation.number)
        found = self._probes.get(key)
        if found is None:
            state = self.history.host_state(self.host, position)
            found = self._probes[key] = HostProbe(state, generation.workloads)
        return found

    def part(self, generation: Generation) -> tuple[list[tuple[Pair, PortSet, bool]],
                                                     list[str]]:
        """The pairs judged at this host (pair, judged ports, as destination?) and the
        addresses it must forget."""
        where = {w.name: w.host for w in generation.workloads}
        pairs = []
        for (src, dst), ports in generation.judged.items():
            if where.get(dst) == self.host:
                pairs.append(((src, dst), ports, True))
            elif where.get(src) == self.host and generation.intended.get((src, dst)):
                pairs.append(((src, dst), ports, False))
        return pairs, list(generation.forget)

    def holds(self, position: int | None, generation: Generation,
              judge: Generation) -> bool:
        """At a snapshot, the host holds `generation`'s part with `judge`'s intended verdicts."""
        pairs, forget = self.part(generation)
        if not pairs and not forget:
            return True
        if position is None:
            return False
        probe = self.probe(position, judge)
        for (src, dst), ports, inbound in pairs:
            if not probe.knows(src, dst):
                continue  # a workload of the pair is gone by the judging generation
            wanted = judge.intended.get((src, dst), PortSet()) & ports
            if inbound:
                if probe.ingress(src, dst) & ports != wanted:
                    return False
            elif wanted - probe.egress(src, dst):
                return False
        if forget:
            state = self.history.host_state(self.host, position)
            named = {address for address, *_ in _named_addresses(state)}
            if named & set(forget):
                return False
        return True


DropCounter = Callable[[str, "Generation", datetime | None], list[Mapping[str, Any]]]


def compute_convergence(history: History, drops: DropCounter | None = None
                        ) -> list[GenerationReport]:
    """Every generation's convergence report; `drops(host, generation, converged_at)` lists
    what a listed host dropped that the generation allows, while it had not converged."""
    gens = generations(history)
    checks = {host: _HostCheck(history, host) for host in history.hosts}
    reports = []
    for index, generation in enumerate(gens):
        opened = generation.opening.at
        rows = []
        dropped: list[Mapping[str, Any]] = []
        for host in history.hosts:
            check = checks[host]
            pairs, forget = check.part(generation)
            if not pairs and not forget:
                continue
            times = history.snapshot_times(host)
            before = [i for i, t in enumerate(times) if t < opened]
            last = before[-1] if before else None
            if check.holds(last, generation, generation):
                continue
            converged_at = None
            for position, at in enumerate(times):
                if at < opened:
                    continue
                judge = _in_force(gens, index, at)
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


def _in_force(gens: list[Generation], index: int, at: datetime) -> Generation:
    """The newest generation opened by `at`, no older than gens[index]."""
    chosen = gens[index]
    for generation in gens[index + 1:]:
        if generation.opening.at <= at:
            chosen = generation
    return chosen


def reports_to_dict(reports: Iterable[GenerationReport]) -> dict[str, Any]:
    return {"generations": [r.to_dict() for r in reports]}
