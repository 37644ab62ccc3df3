"""Convergence of every generation, computed by the engine over the stored history and kept
until that history changes.

Most generations close: every host listed converged, and nothing stored later can change
when that happened. A closed generation's result reads the history up to its horizon (its
opening, or its newest convergence) only, so the stored closed generations are taken as they are
while the history up to the latest of their horizons is what they were computed from; only the
open generations and new ones are computed and written again."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime

from django.db import transaction
from django.db.models import Count, Max, Sum
from django.utils import timezone

from collectors.bundle import SnapshotFiles
from collectors.flowlogs import FlowRecord as EngineFlowRecord
from webapp.analysis.models import GenerationHost, GenerationResult
from webapp.analysis.timeline import (
    DatabaseTimeline,
    StoredDumps,
    StoredSnapshot,
    load_database_timeline,
)
from webapp.engine.analysis.convergence import GenerationReport, HostConvergence
from webapp.engine.analysis.convergence import (
    compute_convergence as engine_convergence,
)
from webapp.engine.analysis.drops import DropLedger
from webapp.engine.analysis.generations import History
from webapp.flows.models import FlowRecord
from webapp.inventory.models import Host
from webapp.inventory.models import Workload as WorkloadRow
from webapp.live import broadcast
from webapp.policy.models import IntentVersion
from webapp.rules.models import Snapshot

DROPPED = ("DROP", "REJECT")


def history_hash() -> str:
    """SHA-256 over what convergence reads: every snapshot, intent version, workload, host
    and dropped flow bucket. Snapshots and flow buckets are only ever added, so their count
    and ids tell them apart without reading them."""
    digest = hashlib.sha256()
    for rows in (
            [Snapshot.objects.aggregate(n=Count("id"), last=Max("id"), ids=Sum("id"))],
            IntentVersion.objects.order_by("id").values_list("version", "sha256", "kind",
                                                             "published_at"),
            WorkloadRow.objects.order_by("id").values_list(
                "id", "host_id", "name", "addresses", "attachment", "interface", "labels",
                "started_at", "stopped_at"),
            Host.objects.order_by("id").values_list("id", "name", "addresses", "labels"),
            [FlowRecord.objects.filter(verdict__in=DROPPED).aggregate(
                n=Count("id"), last=Max("id"), ids=Sum("id"))]):
        for row in rows:
            digest.update(json.dumps(row, default=str, sort_keys=True).encode() + b"\n")
        digest.update(b"\0")
    return digest.hexdigest()


def compute_convergence() -> bool:
    """Store every generation's convergence unless the history is what the stored one was
    computed from; True when it stored."""
    inputs = history_hash()
    stored = GenerationResult.objects.values_list("inputs_hash", flat=True).first()
    if stored == inputs or (stored is None and not IntentVersion.objects.exists()):
        return False
    timeline = load_database_timeline()
    drops = _dropped()
    known = _closed(timeline, drops)
    reports = engine_convergence(_history(timeline), DropLedger(_records(drops)), known)
    _store(reports, known, inputs, timeline, drops)
    return True


# (id, observing host, the engine's flow record) of every dropped flow bucket
Dropped = list[tuple[int, str, EngineFlowRecord]]


def _dropped() -> Dropped:
    """Dropped flow buckets, the only flow records convergence reads (drops while converging):
    a bucket stands for its records, stamped at its start."""
    rows = FlowRecord.objects.filter(verdict__in=DROPPED).order_by(
        "host_id", "bucket_start", "id").values_list(
        "id", "host__name", "bucket_start", "bucket_end", "src", "dst", "proto", "dport",
        "icmp_type", "icmp_code", "packets", "bytes", "verdict", "observer", "rule_ref",
        "source_format")
    return [(pk, host, EngineFlowRecord(start, end, src, dst, proto, None, dport, icmp_type,
                                        icmp_code, packets, size, verdict, None,
                                        observer or None, rule_ref, source_format))
            for (pk, host, start, end, src, dst, proto, dport, icmp_type, icmp_code, packets,
                 size, verdict, observer, rule_ref, source_format)
            in rows.iterator(chunk_size=5000)]


def _records(drops: Dropped) -> dict[str, list[EngineFlowRecord]]:
    out: dict[str, list[EngineFlowRecord]] = {}
    for _, host, record in drops:
        out.setdefault(host, []).append(record)
    return out


def _history(timeline: DatabaseTimeline) -> History:
    """The engine's History of the stored timeline, as the offline CLI builds it."""
    return History([(v.version, v.published_at, v.intent) for v in timeline.intents],
                   timeline.workloads, timeline.host_names(),
                   lambda host: [s.collected_at for s in timeline.snapshots.get(host, [])],
                   timeline.host_state, {})


def horizon(report: GenerationReport) -> datetime | None:
    """The newest time a closed generation's result reads the history at; None while a host
    listed in it has not converged (what it reads grows with every snapshot)."""
    if report.stragglers:
        return None
    return max([report.opened_at, *(h.converged_at for h in report.hosts
                                    if h.converged_at is not None)])


def reads_hash(until: datetime, timeline: DatabaseTimeline, drops: Dropped) -> str:
    """SHA-256 over the history up to `until`, as read for this computation: the snapshots
    collected and dropped flow buckets started by then (rows only ever added: their count and
    ids tell), the hosts, the intent versions published and the workloads started by then
    (with a later stop as none yet)."""
    snapshots = [_snapshot_id(s) for series in timeline.snapshots.values() for s in series
                 if s.collected_at <= until]
    flows = [pk for pk, _, record in drops if record.start <= until]
    workloads = sorted((w.name, w.host, w.addresses, w.attachment, w.interface,
                        sorted(w.labels.items()), w.started_at,
                        w.stopped_at if w.stopped_at is not None and w.stopped_at <= until
                        else None)
                       for w in timeline.workloads
                       if w.started_at is None or w.started_at <= until)
    intents = [(v.version, v.published_at, v.text) for v in timeline.intents
               if v.published_at <= until]
    hosts = sorted((h.name, h.addresses, sorted(h.labels.items()))
                   for h in timeline.host_entries.values())
    text = json.dumps([[len(snapshots), sum(snapshots)], [len(flows), sum(flows)], workloads,
                       intents, hosts], default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _snapshot_id(snapshot: SnapshotFiles) -> int:
    assert isinstance(snapshot, StoredSnapshot) and isinstance(snapshot.dumps, StoredDumps)
    return snapshot.dumps.snapshot_id


def _closed(timeline: DatabaseTimeline, drops: Dropped) -> dict[int, GenerationReport]:
    """The stored closed generations, when the history up to their horizon is unchanged."""
    rows = list(GenerationResult.objects.filter(reads_until__isnull=False)
                .prefetch_related("hosts"))
    if not rows:
        return {}
    until = rows[0].reads_until
    assert until is not None
    if any(r.reads_until != until or r.reads_hash != rows[0].reads_hash for r in rows) or (
            reads_hash(until, timeline, drops) != rows[0].reads_hash):
        return {}
    return {r.number: GenerationReport(
        r.number, r.cause, r.intent_version, r.opened_at,
        tuple(HostConvergence(h.host_name, h.converged_at, h.seconds) for h in r.hosts.all()),
        tuple(r.drops)) for r in rows}


def _store(reports: list[GenerationReport], known: Mapping[int, GenerationReport],
           inputs: str, timeline: DatabaseTimeline, drops: Dropped) -> None:
    now = timezone.now()
    horizons = [t for t in (horizon(r) for r in reports) if t is not None]
    until = max(horizons, default=None)
    digest = reads_hash(until, timeline, drops) if until is not None else ""
    closed = [r.generation for r in reports if horizon(r) is not None]
    fresh = [r for r in reports if r.generation not in known]
    with transaction.atomic():
        GenerationResult.objects.exclude(number__in=list(known)).delete()
        GenerationResult.objects.update(inputs_hash=inputs, computed_at=now)
        _write(fresh, inputs, now)
        GenerationResult.objects.update(reads_until=None, reads_hash="")
        GenerationResult.objects.filter(number__in=closed).update(reads_until=until,
                                                                  reads_hash=digest)
    for report in fresh:
        broadcast.generation_progress(report.generation, len(report.seconds),
                                      len(report.hosts))


def _write(reports: Iterable[GenerationReport], inputs: str, now: datetime) -> None:
    hosts = dict(Host.objects.values_list("name", "id"))
    for report in reports:
        entry = report.to_dict()
        row = GenerationResult.objects.create(
            number=report.generation, cause=report.cause, intent_version=report.intent,
            opened_at=report.opened_at, p50=entry["p50"], p95=entry["p95"], max=entry["max"],
            stragglers=entry["stragglers"], converged=entry["converged"],
            listed=entry["listed"], drops=entry["drops_while_converging"],
            inputs_hash=inputs, computed_at=now)
        GenerationHost.objects.bulk_create([
            GenerationHost(generation=row, host_id=hosts.get(h.host), host_name=h.host,
                           position=i, converged_at=h.converged_at, seconds=h.seconds)
            for i, h in enumerate(report.hosts)])
