"""Churning histories for convergence: the seed fleet's hosts and intent, a workload started or
stopped every ten seconds (a generation each), an intent change midway, and each host posting a
snapshot every few seconds of the rules it renders some seconds late; one straggler stops
applying changes halfway. Deterministic for its arguments."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from bench.fleet import workload_address
from bench.seed import LABEL, SeedFleet, SeedScale, seed_fleet, with_port
from collectors.controlplane import WorkloadSpec
from collectors.intent import Intent
from tests.engine.analysis.fleets import T0
from webapp.engine.analysis.convergence import History
from webapp.engine.analysis.fleet import HostState, Workload, load_host_state

EVENT_SECONDS = 10  # between two membership changes
POST_SECONDS = 4  # between two snapshots of one host


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def churn_history(hosts: int, members: int = 20, events: int = 30, seed: int = 1,
                  upto: int | None = None) -> History:
    """A History of `hosts` hosts with `members` workloads per segment (a segment per host),
    `events` membership changes after the first intent, an intent change after half of them;
    `upto` (seconds after T0) cuts the history there, as it stood then."""
    scale = SeedScale(hosts=hosts, segments=hosts, members=members, peers=min(5, hosts - 1))
    fleet = seed_fleet(scale, seed)
    rng = random.Random(seed)
    v2 = with_port(fleet.intent, 0, 9999)
    changes = _membership(fleet, rng, events)
    intent_change = _at(EVENT_SECONDS * (events // 2) + EVENT_SECONDS / 2)
    end = _at(EVENT_SECONDS * (events + 3))
    workloads = _lifetimes(fleet, changes)
    straggler = fleet.hosts[len(fleet.hosts) // 2]
    rendered: dict[tuple[str, str, frozenset[str]], HostState] = {}
    states: dict[str, list[HostState]] = {}
    for index, host in enumerate(fleet.hosts):
        lag = 1 + index % 7
        series = states[host] = []
        at = _at(index % POST_SECONDS + 0.5)
        while at <= end:
            seen = at - timedelta(seconds=lag)
            if host == straggler and seen > intent_change:
                seen = intent_change - timedelta(seconds=1)
            policy = v2 if seen >= intent_change else fleet.intent
            live = frozenset(w.name for w in workloads if w.live_at(seen))
            key = (host, policy.version or "", live)
            state = rendered.get(key)
            if state is None:
                state = rendered[key] = _state(fleet, host, policy, live, workloads, at)
            series.append(replace(state, collected_at=at))
            at += timedelta(seconds=POST_SECONDS)
    intents = [("v1", T0, fleet.intent), ("v2", intent_change, replace(v2, version="v2"))]
    if upto is not None:
        cut = _at(upto)
        intents = [i for i in intents if i[1] <= cut]
        workloads = tuple(replace(w, stopped_at=None) if w.stopped_at and w.stopped_at > cut
                          else w for w in workloads if w.started_at is None
                          or w.started_at <= cut)
        states = {h: [s for s in series if s.collected_at and s.collected_at <= cut]
                  for h, series in states.items()}
    return History(intents, workloads, list(fleet.hosts), _times(states), _reader(states))


def _times(states: dict[str, list[HostState]]) -> Callable[[str], list[datetime]]:
    return lambda host: [s.collected_at for s in states[host]]  # type: ignore[misc]


def _reader(states: dict[str, list[HostState]]) -> Callable[[str, int], HostState]:
    return lambda host, position: states[host][position]


def _membership(fleet: SeedFleet, rng: random.Random, events: int
                ) -> list[tuple[datetime, WorkloadSpec, bool]]:
    """(time, workload, started?) every EVENT_SECONDS: a new member of a random segment on a
    random host, or the oldest started one (or an original member) stopped."""
    out: list[tuple[datetime, WorkloadSpec, bool]] = []
    started: list[WorkloadSpec] = []
    originals = list(fleet.workloads)
    rng.shuffle(originals)
    segments = sorted(fleet.by_segment)
    for k in range(1, events + 1):
        at = _at(EVENT_SECONDS * k)
        if k % 3 == 0:
            gone = started.pop(0) if started and k % 2 else originals.pop()
            out.append((at, gone, False))
            continue
        s = rng.randrange(len(segments))
        member = fleet.scale.members + k
        spec = WorkloadSpec(f"{segments[s]}-{member:03d}", rng.choice(fleet.hosts),
                            (workload_address(s, member % 256),), f"cali{k:011x}",
                            labels={LABEL: segments[s]})
        started.append(spec)
        out.append((at, spec, True))
    return out


def _lifetimes(fleet: SeedFleet, changes: list[tuple[datetime, WorkloadSpec, bool]]
               ) -> tuple[Workload, ...]:
    started = {spec.name: at for at, spec, up in changes if up}
    stopped = {spec.name: at for at, spec, up in changes if not up}
    specs = {w.name: w for w in fleet.workloads} | {spec.name: spec for _, spec, _ in changes}
    return tuple(Workload(w.name, w.host, w.addresses, w.attachment, w.interface or "",
                          dict(w.labels), started.get(w.name, T0), stopped.get(w.name))
                 for w in sorted(specs.values(), key=lambda w: w.name))


def _state(fleet: SeedFleet, host: str, policy: Intent, live: frozenset[str],
           workloads: tuple[Workload, ...], at: datetime) -> HostState:
    specs = [WorkloadSpec(w.name, w.host, w.addresses, w.interface or None, w.attachment,
                          dict(w.labels)) for w in workloads if w.name in live]
    by_host: dict[str, list[WorkloadSpec]] = {h: [] for h in fleet.hosts}
    by_segment: dict[str, list[WorkloadSpec]] = {s: [] for s in fleet.by_segment}
    for spec in specs:
        by_host[spec.host].append(spec)
        by_segment[spec.labels[LABEL]].append(spec)
    now = replace(fleet, by_host=by_host, by_segment=by_segment,
                  segment_of={s.name: s.labels[LABEL] for s in specs})
    rules = now.render(host, True, policy)
    local = [w for w in workloads if w.host == host]
    return load_host_state(host, {"iptables-save": rules.iptables, "ipset-save": rules.ipset},
                           at, (fleet.host_addresses[host],), local)
