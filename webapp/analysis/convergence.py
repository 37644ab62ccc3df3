"""Convergence of every generation, computed by the engine over the stored history and kept
until that history changes."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from webapp.analysis.models import GenerationHost, GenerationResult
from webapp.analysis.timeline import DatabaseAnalysis, load_database_timeline
from webapp.flows.models import FlowRecord
from webapp.inventory.models import Host
from webapp.inventory.models import Workload as WorkloadRow
from webapp.live import broadcast
from webapp.policy.models import IntentVersion
from webapp.rules.models import Snapshot


def history_hash() -> str:
    """SHA-256 over what convergence reads: every snapshot, intent version, workload, host
    and dropped flow bucket."""
    digest = hashlib.sha256()
    for rows in (
            Snapshot.objects.order_by("id").values_list("id", "host_id", "content_hash",
                                                        "collected_at"),
            IntentVersion.objects.order_by("id").values_list("version", "sha256", "kind",
                                                             "published_at"),
            WorkloadRow.objects.order_by("id").values_list(
                "id", "host_id", "name", "addresses", "attachment", "interface", "labels",
                "started_at", "stopped_at"),
            Host.objects.order_by("id").values_list("id", "name", "addresses", "labels"),
            # Drops while converging: flow buckets are written once, so their ids tell.
            FlowRecord.objects.filter(verdict__in=("DROP", "REJECT")).order_by("id")
            .values_list("id")):
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
    report = DatabaseAnalysis(load_database_timeline()).convergence_json()
    _store(report["generations"], inputs)
    return True


def _store(generations: list[dict[str, Any]], inputs: str) -> None:
    now = timezone.now()
    hosts = dict(Host.objects.values_list("name", "id"))
    with transaction.atomic():
        GenerationResult.objects.all().delete()
        for entry in generations:
            row = GenerationResult.objects.create(
                number=entry["generation"], cause=entry["cause"], intent_version=entry["intent"],
                opened_at=_moment(entry["opened_at"]) or now, p50=entry["p50"], p95=entry["p95"],
                max=entry["max"], stragglers=entry["stragglers"], converged=entry["converged"],
                listed=entry["listed"], drops=entry["drops_while_converging"],
                inputs_hash=inputs, computed_at=now)
            GenerationHost.objects.bulk_create([
                GenerationHost(generation=row, host_id=hosts.get(h["host"]), host_name=h["host"],
                               position=i, converged_at=_moment(h["converged_at"]),
                               seconds=h["seconds"])
                for i, h in enumerate(entry["hosts"])])
            broadcast.generation_progress(row.number, row.converged, row.listed)


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
