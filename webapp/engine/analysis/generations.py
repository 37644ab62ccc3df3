"""Generations: what opened each one (an intent version, workloads started, stopped or
relabelled) and the (source, destination) pairs whose intended ports it changes, which
convergence then judges host by host (`convergence.py`)."""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from collectors.intent import Intent
from webapp.engine.analysis.fleet import HostState, Workload
from webapp.engine.analysis.intended import intended_pairs, ports_of, segscope_pairs
from webapp.engine.analysis.ports import EMPTY, PortSet

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
    intended: Mapping[Pair, PortSet]
    judged: dict[Pair, PortSet] = field(default_factory=dict)  # pair -> judged ports
    started: frozenset[str] = frozenset()
    forget: dict[str, tuple[str, ...]] = field(default_factory=dict)  # address -> workloads
    judges_all: bool = False  # the first generation judges every pair; `judged` stays empty


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
    previous_intent: Any = None
    store = _IntendedStore()
    first_named: dict[str, Workload] = {}
    for workload in history.workloads:
        first_named.setdefault(workload.name, workload)
    for number, opening in enumerate(openings(history), start=1):
        current = history.intent_at(opening.at)
        version, intent = current if current is not None else (None, None)
        live = history.live_at(opening.at)
        names = [w.name for w in live]
        intended: Mapping[Pair, PortSet]
        if previous is None or intent is not previous_intent or not (
                _unique(live) and _unique(previous.workloads)):
            every = intended_pairs(intent, live, history.namespaces)
            judged = _judged(previous, every, names)
            intended = store.replace(number, every)
        else:
            intended, judged = _membership_change(store, number, previous, intent, live,
                                                  history.namespaces)
        generation = Generation(number, opening, version, live, intended, judged,
                                frozenset(opening.started), judges_all=previous is None)
        for name in opening.started if previous is not None else ():
            for src in names:
                if src != name:
                    generation.judged[(src, name)] = EVERYTHING
        if opening.stopped:
            addresses = {str(ipaddress.ip_address(a)) for w in live for a in w.addresses}
            for name in opening.stopped:
                stopped = first_named.get(name)
                for text in stopped.addresses if stopped is not None else ():
                    address = str(ipaddress.ip_address(text))
                    if address not in addresses:
                        generation.forget.setdefault(address, ())
                        generation.forget[address] += (name,)
        out.append(generation)
        previous, previous_intent = generation, intent
    return out


def _unique(workloads: Sequence[Workload]) -> bool:
    return len({w.name for w in workloads}) == len(workloads)


def _judged(previous: Generation | None, intended: Mapping[Pair, PortSet],
            names: Sequence[str], pairs: Iterable[Pair] | None = None) -> dict[Pair, PortSet]:
    """The pairs (all of them, or those of `pairs`) whose intended ports changed since
    `previous`, with the ports that changed (the first generation judges every pair: none
    listed)."""
    if previous is None:
        return {}
    before = previous.intended
    existed = {w.name for w in previous.workloads}
    present = set(names)
    judged: dict[Pair, PortSet] = {}
    for pair in (set(intended) | set(before)) if pairs is None else pairs:
        if pair[0] not in present or pair[1] not in present:
            continue
        old = before.get(pair, EMPTY) if pair[0] in existed and pair[1] in existed else EMPTY
        new = intended.get(pair, EMPTY)
        if old == new:
            continue
        changed = (new - old) | (old - new)
        if changed:
            judged[pair] = changed
    return judged


def _membership_change(store: _IntendedStore, number: int, previous: Generation, intent: Any,
                       live: tuple[Workload, ...], namespaces: Mapping[str, Mapping[str, str]]
                       ) -> tuple[Mapping[Pair, PortSet], dict[Pair, PortSet]]:
    """Intended and judged pairs when only workloads changed since `previous` (same intent,
    names unique): a pair's intended ports depend on its two workloads alone, so only pairs
    with a workload started, stopped or changed are read again."""
    was = {w.name: w for w in previous.workloads}
    now = {w.name: w for w in live}
    touched = {name for name, w in now.items() if was.get(name) is not w}
    touched |= was.keys() - now.keys()
    fresh = _pairs_touching(intent, live, touched & now.keys(), namespaces)
    again = [pair for pair in store.touching(touched) if pair in previous.intended]
    intended = store.change(number, fresh, again)
    return intended, _judged(previous, intended, list(now), [*again, *fresh])


class _IntendedStore:
    """Every generation's intended ports, each pair's kept once a change: generations that
    only start or stop workloads change few pairs of millions."""

    def __init__(self) -> None:
        self.values: dict[Pair, list[tuple[int, PortSet | None]]] = {}  # by generation
        self.by_name: dict[str, set[Pair]] = {}

    def at(self, pair: Pair, number: int) -> PortSet | None:
        values = self.values.get(pair)
        if values is None:
            return None
        if values[-1][0] <= number:
            return values[-1][1]
        index = bisect_right(values, number, key=lambda v: v[0])
        return values[index - 1][1] if index else None

    def touching(self, names: Iterable[str]) -> set[Pair]:
        """Every pair ever intended with one of `names`."""
        return set().union(*(self.by_name.get(name, ()) for name in names))

    def put(self, number: int, pair: Pair, ports: PortSet | None) -> None:
        values = self.values.get(pair)
        if values is None:
            if ports is not None:
                self.values[pair] = [(number, ports)]
                self.by_name.setdefault(pair[0], set()).add(pair)
                self.by_name.setdefault(pair[1], set()).add(pair)
        elif values[-1][1] != ports:
            values.append((number, ports))

    def replace(self, number: int, intended: Mapping[Pair, PortSet]) -> _IntendedAt:
        """Generation `number` intends exactly `intended`."""
        for pair in self.values:
            if pair not in intended:
                self.put(number, pair, None)
        for pair, ports in intended.items():
            self.put(number, pair, ports)
        return _IntendedAt(self, number)

    def change(self, number: int, fresh: Mapping[Pair, PortSet], again: Iterable[Pair]
               ) -> _IntendedAt:
        """Generation `number` intends what the one before did, but `fresh` for its pairs
        and nothing for the pairs of `again` that `fresh` leaves out."""
        for pair in again:
            if pair not in fresh:
                self.put(number, pair, None)
        for pair, ports in fresh.items():
            self.put(number, pair, ports)
        return _IntendedAt(self, number)


def _wanted(intended: Mapping[Pair, PortSet]) -> Callable[[Pair], PortSet]:
    """intended.get(pair, EMPTY), read straight from the store when there is one."""
    if not isinstance(intended, _IntendedAt):
        return lambda pair: intended.get(pair, EMPTY)
    values_of, number, at = intended.store.values.get, intended.number, intended.store.at

    def wanted(pair: Pair) -> PortSet:
        values = values_of(pair)
        if values is None:
            return EMPTY
        ports = values[-1][1] if values[-1][0] <= number else at(pair, number)
        return EMPTY if ports is None else ports

    return wanted


class _IntendedAt(Mapping[Pair, PortSet]):
    """One generation's intended ports: pair -> ports, for the pairs allowed something."""

    def __init__(self, store: _IntendedStore, number: int) -> None:
        self.store, self.number = store, number

    def __getitem__(self, pair: Pair) -> PortSet:
        ports = self.store.at(pair, self.number)
        if ports is None:
            raise KeyError(pair)
        return ports

    def get(self, pair: Pair, default: Any = None) -> Any:
        ports = self.store.at(pair, self.number)
        return default if ports is None else ports

    def __contains__(self, pair: object) -> bool:
        return isinstance(pair, tuple) and self.store.at(pair, self.number) is not None

    def __iter__(self) -> Iterator[Pair]:
        return (pair for pair in self.store.values
                if self.store.at(pair, self.number) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _pairs_touching(intent: Any, live: Sequence[Workload], touched: set[str],
                    namespaces: Mapping[str, Mapping[str, str]]) -> dict[Pair, PortSet]:
    """intended_pairs restricted to the pairs with a workload in `touched`."""
    out: dict[Pair, PortSet] = {}
    if intent is None or not touched:
        return out
    if not isinstance(intent, Intent):
        for name in sorted(touched):
            one = next(w for w in live if w.name == name)
            for other in live:
                if other.name == name:
                    continue
                for a, b in ((one, other), (other, one)):
                    ports = ports_of(intent.allowed_ports(a, b, namespaces or {}))
                    if ports:
                        out[(a.name, b.name)] = ports
        return out
    return segscope_pairs(intent, sorted(live, key=lambda w: w.name), touched)
