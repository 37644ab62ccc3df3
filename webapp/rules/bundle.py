"""Offline bundles in and out: ingest one through the services the API uses, export one for a
point in time. The layout is collectors.bundle's (DESIGN.md section 4, docs/lab.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Q

from collectors.bundle import (
    Bundle,
    BundleError,
    FlowFile,
    SnapshotFiles,
    inventory_yaml,
    read_bundle,
    write_bundle,
)
from collectors.errors import ParseError
from collectors.intent import format_moment
from webapp.flows.models import FlowRecord
from webapp.flows.services import ingest_flows
from webapp.inventory.models import Host, Workload
from webapp.inventory.models.queries import running_at
from webapp.inventory.services import ImportSummary, apply_inventory
from webapp.policy.services import IntentRejected, exported_text, published_by, store_intent
from webapp.rules.dumps import TooManyRules, content_hash
from webapp.rules.models import Snapshot
from webapp.rules.services import SnapshotRejected, ingest_snapshot

FLOW_CHUNK_LINES = 50_000  # below SEGSCOPE_MAX_FLOW_BATCH, as the agent sends them
EXPORT_FLOW_SOURCE = "ulogd2"
_PROTOCOL_NAMES = {1: "icmp", 58: "icmpv6"}


class BundleRejected(Exception):
    """A bundle file that could not be ingested; nothing of the bundle was applied."""

    def __init__(self, file: str, line: int, reason: str) -> None:
        super().__init__(f"{file}:{line}: {reason}" if line else f"{file}: {reason}")
        self.file, self.line, self.reason = file, line, reason


@dataclass(slots=True)
class IngestSummary:
    """What ingesting a bundle did; a second ingest of the same bundle creates nothing."""

    inventory: ImportSummary | None = None
    intents: list[str] = field(default_factory=list)
    intents_created: int = 0
    intents_known: int = 0
    snapshots_created: int = 0
    snapshots_known: int = 0
    flow_batches_created: int = 0
    flow_batches_known: int = 0
    flow_records_written: int = 0
    bad_flow_lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.snapshots_created or self.flow_batches_created
                    or self.intents_created or (
                        self.inventory is not None and self.inventory.changed))


def ingest_bundle(root: Path) -> IngestSummary:
    """Apply a bundle in one transaction: inventory, intent versions, then each host's
    snapshots in time order, then flow logs. Raises collectors.bundle.BundleError for a bad
    layout, inventory or intent and BundleRejected for a dump or flow log that cannot be parsed
    or an intent version stored with other text; either way nothing is applied. Ingesting the
    same bundle again changes nothing.

    The bundle's story begins at its earliest snapshot: a workload without a start time has
    run since then, and an intent version without `published_at` was published then."""
    bundle = read_bundle(root)
    summary = IngestSummary(intents=[i.version for i in bundle.intents])
    begins = min((s.collected_at for s in bundle.snapshots), default=None)
    with transaction.atomic():
        if bundle.inventory is not None:
            summary.inventory = apply_inventory(bundle.inventory, started_default=begins)
        for intent in bundle.intents:
            try:
                _, created = store_intent(intent.version, intent.text, intent=intent.intent,
                                          published_default=begins)
            except IntentRejected as exc:
                raise BundleRejected(intent.path, 0, f"{exc.path}: {exc.reason}") from None
            summary.intents_created += created
            summary.intents_known += not created
        hosts = _hosts(bundle)
        for snapshot in bundle.snapshots:
            _ingest_snapshot(hosts[snapshot.host], snapshot, summary)
        for flow in bundle.flows:
            _ingest_flow_file(hosts[flow.host], flow, summary)
    return summary


def _hosts(bundle: Bundle) -> dict[str, Host]:
    existing = {h.name: h for h in Host.objects.filter(name__in=bundle.hosts)}
    for name in sorted(bundle.hosts - set(existing)):
        existing[name] = Host.objects.create(name=name)
    return existing


def _ingest_snapshot(host: Host, files: SnapshotFiles, summary: IngestSummary) -> None:
    digest = content_hash(files.dumps)
    # The service only recognises the host's latest content; a bundle replays a history.
    if Snapshot.objects.filter(host=host, content_hash=digest,
                               collected_at=files.collected_at).exists():
        summary.snapshots_known += 1
        return
    fresh = Host.objects.get(pk=host.pk)  # last_snapshot moves with every ingest
    raw = {"bundle": files.path, "host": host.name, "dumps": dict(files.dumps)}
    try:
        receipt = ingest_snapshot(fresh, files.collected_at, files.dumps, raw)
    except SnapshotRejected as exc:
        error = exc.error
        raise BundleRejected(f"{files.path}/{error['file']}", int(str(error["line"]) or 0),
                             str(error["reason"])) from None
    except TooManyRules as exc:
        raise BundleRejected(files.path, 0, str(exc)) from None
    if receipt.created:
        summary.snapshots_created += 1
        summary.warnings.extend(f"{files.path}/{w.get('file')}:{w.get('line')}: {w.get('message')}"
                                for w in receipt.warnings)
    else:
        summary.snapshots_known += 1


def _ingest_flow_file(host: Host, flow: FlowFile, summary: IngestSummary) -> None:
    for first_line, text in _chunks(flow.text, FLOW_CHUNK_LINES):
        try:
            batch, created = ingest_flows(host, flow.source, flow.path, text)
        except ParseError as exc:
            raise BundleRejected(flow.path, first_line - 1 + exc.line, exc.reason) from None
        if created:
            summary.flow_batches_created += 1
            summary.flow_records_written += batch.written
            summary.bad_flow_lines.extend(
                f"{flow.path}:{first_line - 1 + int(bad['line'])}: {bad['reason']}"
                for bad in batch.bad_lines)
        else:
            summary.flow_batches_known += 1


def _chunks(text: str, lines: int) -> Iterator[tuple[int, str]]:
    """(number of the first line, text) of consecutive pieces of at most `lines` lines."""
    all_lines = text.splitlines(keepends=True)
    for start in range(0, max(len(all_lines), 1), lines):
        yield start + 1, "".join(all_lines[start:start + lines])


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What an export wrote."""

    hosts: int
    workloads: int
    intents: int
    snapshots: int
    flow_records: int
    files: int


def export_bundle(root: Path, at: datetime, *, history: bool = False) -> ExportSummary:
    """Write the fleet as it was at `at`: every host's latest snapshot at or before it (all of
    them with `history`), the workloads running then (with `history` also those that stopped
    by then), the intent versions published by then and the flow records up to it."""
    hosts = list(Host.objects.order_by("name"))
    lifetimes = running_at(at)
    if history:
        lifetimes |= Q(stopped_at__lte=at)
    workloads = list(Workload.objects.filter(lifetimes).select_related("host")
                     .order_by("host__name", "name", "started_at"))
    intents = {}
    for intent in published_by(at):
        try:
            intents[intent.version] = exported_text(intent)
        except ValueError as exc:
            raise BundleError(f"intent/{intent.version}.yaml", 0, str(exc)) from None
    snapshots = list(_snapshots_at(at, history))
    records = FlowRecord.objects.filter(bucket_start__lte=at).select_related("host").order_by(
        "host__name", "bucket_start", "id")
    flows: dict[str, list[str]] = {}
    count = 0
    for record in records.iterator(chunk_size=5000):
        flows.setdefault(record.host.name, []).append(flow_line(record))
        count += 1
    files = write_bundle(
        root, inventory_text=inventory_yaml(inventory_document(hosts, workloads, at)),
        intents=intents,
        snapshots=[SnapshotFiles(s.host.name, s.collected_at, s.dumps) for s in snapshots],
        flows=[FlowFile(name, EXPORT_FLOW_SOURCE, "".join(lines), "jsonl")
               for name, lines in flows.items()])
    return ExportSummary(len(hosts), len(workloads), len(intents), len(snapshots), count,
                         len(files))


def _snapshots_at(at: datetime, history: bool) -> Iterator[Snapshot]:
    snapshots = Snapshot.objects.filter(collected_at__lte=at).select_related("host")
    if history:
        yield from snapshots.order_by("host__name", "collected_at", "id")
        return
    latest = (Snapshot.objects.filter(collected_at__lte=at).order_by(
        "host_id", "-collected_at", "-id").values_list("host_id", "id"))
    chosen: dict[int, int] = {}
    for host_id, snapshot_id in latest:
        chosen.setdefault(host_id, snapshot_id)
    yield from snapshots.filter(Q(id__in=chosen.values())).order_by("host__name")


def inventory_document(hosts: list[Host], workloads: list[Workload],
                       at: datetime | None = None) -> dict[str, Any]:
    """The Segscope inventory of these hosts and workloads as known at `at` (default: now): a
    workload's stop is written only when it came by then."""
    return {
        "hosts": [{"name": h.name, "addresses": list(h.addresses), "labels": dict(h.labels)}
                  for h in hosts],
        "workloads": [
            {"name": w.name, "host": w.host.name, "addresses": list(w.addresses),
             "attachment": w.attachment, **({"interface": w.interface} if w.interface else {}),
             "labels": dict(w.labels), "started_at": format_moment(w.started_at),
             **({"stopped_at": format_moment(w.stopped_at)} if w.stopped_at is not None and (
                 at is None or w.stopped_at <= at) else {})}
            for w in workloads],
    }


def flow_line(record: FlowRecord) -> str:
    """A flow record as one ulogd2 JSON line, which reads back to the same record: time,
    addresses, protocol, port or ICMP type, packets, bytes, verdict, rule reference and
    observer survive; source ports and how many raw records were summed do not."""
    seconds = record.bucket_start.timestamp()
    doc: dict[str, Any] = {
        "timestamp": record.bucket_start.isoformat(), "oob.time.sec": int(seconds),
        "oob.time.usec": int(round((seconds % 1) * 1e6)),
        "src_ip": record.src, "dest_ip": record.dst}
    if record.proto is not None:
        doc["ip.protocol"] = record.proto
    kind = _PROTOCOL_NAMES.get(record.proto or -1)
    if kind is not None:
        if record.icmp_type is not None:
            doc[f"{kind}.type"] = record.icmp_type
        if record.icmp_code is not None:
            doc[f"{kind}.code"] = record.icmp_code
    elif record.dport is not None:
        doc["dest_port"] = record.dport
    doc["raw.pktcount"] = record.packets
    doc["raw.pktlen"] = record.bytes
    if record.rule_ref is not None:
        doc["oob.prefix"] = record.rule_ref
    action = {"DROP": "blocked", "ACCEPT": "allowed"}.get(record.verdict or "")
    if action is not None:
        doc["action"] = action
    if record.observer:
        doc["dvc"] = record.observer
    return json.dumps(doc, separators=(", ", ": ")) + "\n"
