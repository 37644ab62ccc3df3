"""The seed-scale fleet of DESIGN.md section 7: hosts, segments of bridged workloads, an intent
where each segment reaches a few others, and every host's tables as the control plane writes them.

Deterministic for a seed. Each host's tables come from `collectors.controlplane.render_host`,
given the part of the intent and inventory that host's rules depend on (its workloads' segments,
the allows into them, the addresses of their source segments): the text is the same as from the
whole intent and inventory (tests/bench check it), at a fraction of the cost (render_host
matches every workload it is given against every segment)."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bench.fleet import workload_address
from collectors.controlplane import HostRules, WorkloadSpec, render_host
from collectors.intent import Allow, Intent, Peer, PortRange
from webapp.engine.analysis.fleet import Fleet, HostState, Workload, load_host_state

PORTS = (443, 5432, 6379, 8000, 8080, 8443, 9090, 3306)
LABEL = "segment"
COLLECTED_AT = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SeedScale:
    """How big: hosts, segments, workloads (members) per segment, segments each one reaches."""

    hosts: int = 1000
    segments: int = 1000
    members: int = 20
    peers: int = 5

    def __str__(self) -> str:
        return (f"{self.hosts:,} hosts, {self.segments:,} segments x {self.members} workloads, "
                f"{self.peers} peers each")


SEED = SeedScale()
QUICK = SeedScale(hosts=20, segments=20, members=5, peers=5)


@dataclass(frozen=True, slots=True)
class SeedFleet:
    """The generated inventory and intent, indexed the way rendering needs them."""

    scale: SeedScale
    intent: Intent
    workloads: tuple[WorkloadSpec, ...]
    hosts: tuple[str, ...]
    host_addresses: dict[str, str]
    segment_of: dict[str, str]  # workload name -> segment
    by_host: dict[str, list[WorkloadSpec]]
    by_segment: dict[str, list[WorkloadSpec]]

    @property
    def ports(self) -> tuple[int, ...]:
        """Every destination port the intent names (what a packet-by-packet check probes)."""
        return tuple(sorted({p.low for a in self.intent.allows for p in a.ports}))

    def host_intent(self, host: str, intent: Intent | None = None) -> tuple[Intent, list[
            WorkloadSpec]]:
        """The part of `intent` (default: the fleet's) and inventory one host's rules read."""
        intent = intent or self.intent
        local = self.by_host[host]
        local_segments = {self.segment_of[w.name] for w in local}
        allows = tuple(a for a in intent.allows if a.destination.segment in local_segments)
        sources = {a.source.segment for a in allows if a.source.segment is not None}
        names = sorted(local_segments | sources)
        local_names = {w.name for w in local}
        workloads = list(local)
        for segment in sorted(sources):
            # A source segment's remote members as few workloads carrying their addresses,
            # named so that sorting by name keeps every address in its place.
            run: list[WorkloadSpec] = []
            for member in [*self.by_segment[segment], None]:
                if member is not None and member.name not in local_names:
                    run.append(member)
                    continue
                if run:
                    workloads.append(WorkloadSpec(
                        run[0].name, "", tuple(a for w in run for a in w.addresses),
                        labels=dict(run[0].labels)))
                    run = []
        part = Intent({n: intent.segments[n] for n in names}, allows, intent.default,
                      intent.version)
        return part, workloads

    def render(self, host: str, use_sets: bool, intent: Intent | None = None) -> HostRules:
        part, workloads = self.host_intent(host, intent)
        return render_host(host, part, workloads, use_sets=use_sets)

    def analysis_workloads(self) -> tuple[Workload, ...]:
        return tuple(Workload(w.name, w.host, w.addresses, w.attachment, w.interface or "",
                              dict(w.labels)) for w in self.workloads)

    def host_state(self, host: str, rendered: HostRules,
                   workloads: Iterable[Workload] = ()) -> HostState:
        """Parse and compile one host's rendered tables."""
        return load_host_state(host, {"iptables-save": rendered.iptables,
                                      "ipset-save": rendered.ipset},
                               COLLECTED_AT, (self.host_addresses[host],), workloads)


def seed_fleet(scale: SeedScale = SEED, seed: int = 1) -> SeedFleet:
    """Workloads dealt over hosts in a shuffled order (each host holds members of many
    segments), distinct IPv4 addresses and `cali` interfaces, and the intent."""
    if scale.segments > 4096 or scale.members > 256 or scale.peers >= scale.segments:
        raise ValueError(f"unsupported scale: {scale}")
    rng = random.Random(seed)
    hosts = tuple(f"node-{i:04d}" for i in range(scale.hosts))
    host_addresses = {h: f"192.168.{i >> 8}.{i & 0xFF}" for i, h in enumerate(hosts)}
    segments = [f"seg{i:04d}" for i in range(scale.segments)]
    slots = [(s, m) for s in range(scale.segments) for m in range(scale.members)]
    rng.shuffle(slots)
    interfaces: set[str] = set()
    workloads = []
    for k, (s, m) in enumerate(slots):
        interface = f"cali{rng.getrandbits(44):011x}"
        while interface in interfaces:
            interface = f"cali{rng.getrandbits(44):011x}"
        interfaces.add(interface)
        workloads.append(WorkloadSpec(f"{segments[s]}-{m:03d}", hosts[k % scale.hosts],
                                      (workload_address(s, m),), interface,
                                      labels={LABEL: segments[s]}))
    workloads.sort(key=lambda w: w.name)
    allows = []
    for s, source in enumerate(segments):
        others = [d for d in range(scale.segments) if d != s]
        for d in rng.sample(others, scale.peers):
            port = rng.choice(PORTS)
            allows.append(Allow(Peer(segment=source), Peer(segment=segments[d]),
                                (PortRange("tcp", port, port),)))
    intent = Intent({name: {LABEL: name} for name in segments}, tuple(allows), version="seed")
    by_host: dict[str, list[WorkloadSpec]] = {h: [] for h in hosts}
    by_segment: dict[str, list[WorkloadSpec]] = {name: [] for name in segments}
    for w in workloads:
        by_host[w.host].append(w)
        by_segment[w.labels[LABEL]].append(w)
    return SeedFleet(scale, intent, tuple(workloads), hosts, host_addresses,
                     {w.name: w.labels[LABEL] for w in workloads}, by_host, by_segment)


def with_port(intent: Intent, index: int, port: int) -> Intent:
    """The intent with allow number `index` moved to another tcp port."""
    allows = list(intent.allows)
    allows[index] = replace(allows[index], ports=(PortRange("tcp", port, port),))
    return replace(intent, allows=tuple(allows))


def load_fleet(seed: SeedFleet, rendered: dict[str, HostRules]) -> Fleet:
    """The analysis fleet: every host's rendered tables parsed and compiled."""
    workloads = seed.analysis_workloads()
    return Fleet({h: seed.host_state(h, rendered[h]) for h in seed.hosts}, workloads)
