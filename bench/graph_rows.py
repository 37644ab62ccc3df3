"""The stored analysis of a seed fleet (`bench/seed.py`), written straight into a database:
hosts, running workloads, the intent, and every host's graph partition with its evidence, as
the analysis workers would store them, in seconds instead of a fleet-wide analysis.

The seed's tables implement its intent exactly (graph_bench checks it packet by packet), so
the allowed pairs are the intent's. The evidence of each pair comes from the engine: the rule
that lets the source workload out of its host (explained once per source workload) and the
rule that lets the packet into the destination workload (once per destination workload and
source segment), each read from that host's rendered tables. At small scales the rows equal
`compute_graph`'s edges (tests/bench check it)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from bench.seed import COLLECTED_AT, SeedFleet
from collectors.intent import Intent
from webapp.engine.analysis.edges import evidence_dicts
from webapp.engine.analysis.fleet import HostState
from webapp.engine.analysis.ports import PortSet
from webapp.engine.analysis.verdicts import Evidence, RuleDirectory
from webapp.engine.packet import Packet

SPORT = 40000


def intent_text(intent: Intent) -> str:
    """The intent as a Segscope document (JSON is YAML)."""
    return json.dumps({
        "segments": {name: dict(selector) for name, selector in intent.segments.items()},
        "allow": [{"from": a.source.segment, "to": a.destination.segment,
                   "ports": [f"{p.proto}/{p.low}" if p.low == p.high
                             else f"{p.proto}/{p.low}-{p.high}" for p in a.ports]}
                  for a in intent.allows],
        "default": intent.default})


def _deciding(state: HostState, directory: RuleDirectory, packet: Packet) -> Evidence:
    """The rule that accepts `packet` on the host's FORWARD path."""
    assert state.rules is not None
    family = next(iter(state.rules.iptables))
    answer = state.rules.explain(packet, "FORWARD", trace=False)
    assert answer.verdict == "ACCEPT", (state.name, packet, answer)
    return directory.evidence(family, "FORWARD", answer.verdict, answer.decided_by)


def graph_edges(seed: SeedFleet, use_sets: bool = True) -> Iterator[dict[str, Any]]:
    """Every allowed workload pair as `workload_edges` gives it, with its destination host,
    partition by partition in host order. Each host's tables are rendered, loaded and asked
    once: for the rule letting each of its workloads out, and for the rule letting each
    source segment into each of its workloads."""
    into: dict[str, list[tuple[str, PortSet]]] = {}
    for allow in seed.intent.allows:
        assert allow.source.segment is not None and allow.destination.segment is not None
        ports = PortSet.parse(f"{p.proto}/{p.low}-{p.high}" for p in allow.ports)
        into.setdefault(allow.destination.segment, []).append((allow.source.segment, ports))
    egress: dict[str, Evidence] = {}
    ingress: dict[tuple[str, str], Evidence] = {}
    for host in seed.hosts:
        state = seed.host_state(host, seed.render(host, use_sets))
        assert state.rules is not None
        directory = RuleDirectory(host, state.rules)
        for dst in seed.by_host[host]:
            for source, ports in into.get(seed.segment_of[dst.name], ()):
                port = ports.ranges[0][1][0][0]
                for src in seed.by_segment[source][:1]:
                    in_iface = src.interface if src.host == host else state.uplink
                    ingress[(dst.name, source)] = _deciding(state, directory, Packet(
                        src.addresses[0], dst.addresses[0], "tcp", SPORT, port,
                        in_iface=in_iface, out_iface=dst.interface))
        for src in seed.by_host[host]:
            # Leaving the host: the rule depends on the workload's interface, not the peer.
            targets = [(d, p) for d, allows in into.items() for s, p in allows
                       if s == seed.segment_of[src.name]][:1]
            for segment, ports in targets:
                dst = seed.by_segment[segment][0]
                egress[src.name] = _deciding(state, directory, Packet(
                    src.addresses[0], dst.addresses[0], "tcp", SPORT, ports.ranges[0][1][0][0],
                    in_iface=src.interface, out_iface=state.uplink))
    for host in seed.hosts:
        edges = []
        for dst in seed.by_host[host]:
            for source, ports in into.get(seed.segment_of[dst.name], ()):
                for src in seed.by_segment[source]:
                    if src.name == dst.name:
                        continue
                    decided = [(ingress[(dst.name, source)], ports)]
                    if src.host != dst.host:
                        decided.append((egress[src.name], ports))
                    edges.append({"src": src.name, "dst": dst.name, "host": host,
                                  "allowed": ports.texts(),
                                  "evidence": evidence_dicts(decided)})
        edges.sort(key=lambda e: (e["src"], e["dst"]))
        yield from edges


def store(seed: SeedFleet, use_sets: bool = True, computed_at: datetime | None = None,
          edges: Iterable[dict[str, Any]] | None = None) -> int:
    """Write the fleet's hosts, workloads, intent and graph partitions (`edges`, by default
    `graph_edges`; each host marked analysed) into the configured database; PostgreSQL takes
    the pairs by COPY. Returns the number of pairs stored."""
    from django.db import connection, transaction

    from webapp.analysis.models import AnalysisState, GraphEdge
    from webapp.inventory.models import Host, Workload
    from webapp.policy.services import store_intent

    now = computed_at or datetime.now(UTC)
    with transaction.atomic():
        # The intent first: publishing it flags every host for analysis, and there are none
        # yet. The rows written here are that analysis.
        store_intent(seed.intent.version or "seed", intent_text(seed.intent),
                     intent=seed.intent, now=now)
        Host.objects.bulk_create([Host(name=h, addresses=[seed.host_addresses[h]])
                                  for h in seed.hosts], batch_size=2000)
        ids = dict(Host.objects.filter(name__in=seed.hosts).values_list("name", "id"))
        Workload.objects.bulk_create([
            Workload(name=w.name, host_id=ids[w.host], addresses=list(w.addresses),
                     attachment=w.attachment, interface=w.interface or "",
                     labels=dict(w.labels), started_at=COLLECTED_AT)
            for w in seed.workloads], batch_size=5000)
        AnalysisState.objects.bulk_create([
            AnalysisState(host_id=ids[h], inputs_hash=f"seed-{seed.scale.segments}-{h}",
                          updated_at=now) for h in seed.hosts])
        where = {w.name: w.host for w in seed.workloads}
        rows = ((ids[e["host"]], e["src"], e["dst"], where[e["src"]], e["allowed"],
                 e["evidence"]) for e in (graph_edges(seed, use_sets) if edges is None
                                          else edges))
        if connection.vendor == "postgresql":
            return _copy(rows, now, seed.intent.version or "")
        count = 0
        batch: list[GraphEdge] = []
        for host_id, src, dst, src_host, allowed, evidence in rows:
            batch.append(GraphEdge(host_id=host_id, src=src, dst=dst, src_host=src_host,
                                   allowed=allowed, evidence=evidence, snapshots={},
                                   intent_version=seed.intent.version or "",
                                   computed_at=now))
            if len(batch) >= 5000:
                GraphEdge.objects.bulk_create(batch)
                count += len(batch)
                batch = []
        GraphEdge.objects.bulk_create(batch)
        return count + len(batch)


def _copy(rows: Iterator[tuple[Any, ...]], now: datetime, version: str) -> int:
    from django.db import connection

    from webapp.analysis.models import GraphEdge

    table = GraphEdge._meta.db_table
    columns = ("host_id", "src", "dst", "src_host", "allowed", "evidence", "snapshots",
               "intent_version", "computed_at")
    count = 0
    stamp = now.isoformat()
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            buffer = io.StringIO()
            for host_id, src, dst, src_host, allowed, evidence in rows:
                fields = (str(host_id), src, dst, src_host, json.dumps(allowed),
                          json.dumps(evidence), "{}", version, stamp)
                buffer.write("\t".join(_escape(f) for f in fields) + "\n")
                count += 1
                if count % 20000 == 0:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
    return count


def _escape(field: str) -> str:
    return field.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
