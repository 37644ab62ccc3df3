"""Inventory services: applying an imported inventory, and segment membership at a time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.dispatch import Signal
from django.utils import timezone

from collectors.inventory import HostEntry, Inventory, WorkloadEntry
from webapp.inventory.models import Host, Segment, Workload
from webapp.inventory.models.queries import running_at

_WORKLOAD_FIELDS = ("addresses", "attachment", "interface", "labels")

# Sent after an import that started, stopped or changed workloads or hosts commits.
membership_changed = Signal()


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """How many rows an inventory import created, changed, stopped or left alone."""

    format: str
    hosts_created: int = 0
    hosts_updated: int = 0
    workloads_created: int = 0
    workloads_updated: int = 0
    workloads_stopped: int = 0
    workloads_unchanged: int = 0

    @property
    def changed(self) -> bool:
        return any((self.hosts_created, self.hosts_updated, self.workloads_created,
                    self.workloads_updated, self.workloads_stopped))

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def apply_inventory(inventory: Inventory, *, now: datetime | None = None,
                    started_default: datetime | None = None) -> ImportSummary:
    """Make hosts and workloads match an inventory, in one transaction; applying it again
    changes nothing. Workloads of hosts in its scope that it no longer lists are stopped at
    `now`, never deleted; a name that comes back with a new start time is a new row; a listed
    workload with a `stopped_at` is stored stopped then. A new workload without a start time
    started at `started_default` (default: `now`)."""
    now = now or timezone.now()
    with transaction.atomic():
        hosts, hosts_created, hosts_updated = _apply_hosts(inventory)
        counts = _apply_workloads(inventory, hosts, now, started_default or now)
        summary = ImportSummary(inventory.format, hosts_created, hosts_updated, *counts)
        if summary.changed:
            transaction.on_commit(lambda: membership_changed.send(ImportSummary, summary=summary))
    return summary


def _apply_hosts(inventory: Inventory) -> tuple[dict[str, Host], int, int]:
    names = inventory.host_names()
    described = {entry.name: entry for entry in inventory.hosts}
    # Locking the hosts serialises imports with each other and with snapshot ingest.
    hosts = {h.name: h for h in Host.objects.select_for_update().filter(name__in=names)}
    missing = [_new_host(name, described.get(name)) for name in sorted(names - set(hosts))]
    if missing:
        Host.objects.bulk_create(missing, ignore_conflicts=True)
        hosts = {h.name: h for h in Host.objects.select_for_update().filter(name__in=names)}
    created = {h.name for h in missing}
    changed = []
    for name, entry in described.items():
        host = hosts[name]
        if name in created:
            continue
        addresses, labels = list(entry.addresses), dict(entry.labels)
        if host.addresses != addresses or host.labels != labels:
            host.addresses, host.labels = addresses, labels
            changed.append(host)
    Host.objects.bulk_update(changed, ["addresses", "labels"])
    return hosts, len(missing), len(changed)


def _new_host(name: str, entry: HostEntry | None) -> Host:
    if entry is None:
        return Host(name=name)
    return Host(name=name, addresses=list(entry.addresses), labels=dict(entry.labels))


def _apply_workloads(inventory: Inventory, hosts: Mapping[str, Host], now: datetime,
                     started_default: datetime) -> tuple[int, int, int, int]:
    entries = {(hosts[w.host].pk, w.name): w for w in inventory.workloads if w.stopped_at is None}
    ended = [(hosts[w.host].pk, w, w.stopped_at) for w in inventory.workloads
             if w.stopped_at is not None]
    scope_ids = {hosts[name].pk for name in inventory.scope}
    involved = scope_ids | {host_id for host_id, _ in entries} | {h for h, _, _ in ended}
    running = {(w.host_id, w.name): w
               for w in Workload.objects.filter(host_id__in=involved, stopped_at__isnull=True)}
    # Rows stopped earlier that an entry names exactly: the same container, seen again.
    starts = {w.started_at for w in inventory.workloads if w.started_at is not None}
    stopped = {(w.host_id, w.name, w.started_at): w for w in Workload.objects.filter(
        host_id__in=involved, stopped_at__isnull=False, started_at__in=starts)}

    to_stop: list[Workload] = []
    to_update: list[Workload] = []
    to_create: list[Workload] = []
    unchanged = 0
    for host_id, entry, stop in ended:
        key = (host_id, entry.name)
        current = running.get(key)
        if current is not None and entry.started_at in (None, current.started_at) and (
                current.started_at <= stop):
            # The running row is this container, and it has ended.
            del running[key]
            _copy_fields(current, entry)
            current.stopped_at = stop
            to_stop.append(current)
            continue
        earlier = _ended_row(host_id, entry, stop, stopped)
        if earlier is None:
            start = entry.started_at or min(started_default, stop)
            workload = Workload(host_id=host_id, name=entry.name, started_at=start,
                                stopped_at=stop)
            _copy_fields(workload, entry)
            to_create.append(workload)
        elif _copy_fields(earlier, entry) or earlier.stopped_at != stop:
            earlier.stopped_at = stop
            to_update.append(earlier)
        else:
            unchanged += 1
    for (host_id, name), entry in entries.items():
        current = running.get((host_id, name))
        if current is not None and entry.started_at in (None, current.started_at):
            if _copy_fields(current, entry):
                to_update.append(current)
            else:
                unchanged += 1
            continue
        start = entry.started_at or started_default
        if current is not None:
            # Replaced by a newer container of the same name: the old one ended when it began.
            current.stopped_at = start if current.started_at < start <= now else now
            to_stop.append(current)
        earlier = stopped.get((host_id, name, start))
        if earlier is not None:
            earlier.stopped_at = None
            _copy_fields(earlier, entry)
            to_update.append(earlier)
        else:
            workload = Workload(host_id=host_id, name=name, started_at=start)
            _copy_fields(workload, entry)
            to_create.append(workload)
    for key, workload in running.items():
        if workload.host_id in scope_ids and key not in entries:
            workload.stopped_at = now
            to_stop.append(workload)

    # Stops first: a running row must end before another row of its name may run.
    Workload.objects.bulk_update(to_stop, [*_WORKLOAD_FIELDS, "stopped_at"], batch_size=1000)
    Workload.objects.bulk_update(to_update, [*_WORKLOAD_FIELDS, "stopped_at"], batch_size=1000)
    Workload.objects.bulk_create(to_create, batch_size=1000)
    return len(to_create), len(to_update), len(to_stop), unchanged


def _ended_row(host_id: int, entry: WorkloadEntry, stop: datetime,
               stopped: Mapping[tuple[int, str, datetime], Workload]) -> Workload | None:
    """The stored, stopped row an ended entry names: by its start, or else by its stop."""
    if entry.started_at is not None:
        return stopped.get((host_id, entry.name, entry.started_at))
    return (Workload.objects.filter(host_id=host_id, name=entry.name, stopped_at=stop)
            .order_by("-started_at").first())


def _copy_fields(workload: Workload, entry: WorkloadEntry) -> bool:
    """Give workload the entry's values; True when any of them differed."""
    values = {"addresses": list(entry.addresses), "attachment": entry.attachment,
              "interface": entry.interface, "labels": dict(entry.labels)}
    changed = False
    for field, value in values.items():
        if getattr(workload, field) != value:
            setattr(workload, field, value)
            changed = True
    return changed


def parse_selector(text: str) -> dict[str, str]:
    """`app=payments,env=prod` as {"app": "payments", "env": "prod"}; raises ValueError."""
    selector: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected key=value, got {part.strip()!r}")
        selector[key.strip()] = value.strip()
    return selector


def segment_members(segment: Segment, at: datetime | None = None) -> QuerySet[Workload]:
    """The workloads a segment selects at `at` (now when None)."""
    return segment.members(at)


def attach_member_counts(segments: Iterable[Segment], at: datetime | None = None) -> None:
    """Set `members_count` on each segment with one query over the running workloads."""
    segments = list(segments)
    if not segments:
        return
    # An inverted index (label pair -> workload ids) answers every selector by intersection,
    # the same on PostgreSQL and SQLite and without one count query per segment.
    everyone: set[int] = set()
    index: dict[tuple[str, str], set[int]] = {}
    for workload_id, labels in Workload.objects.filter(running_at(at)).values_list("id", "labels"):
        everyone.add(workload_id)
        for pair in (labels or {}).items():
            index.setdefault(pair, set()).add(workload_id)
    for segment in segments:
        groups = sorted((index.get(pair, set()) for pair in segment.selector.items()), key=len)
        members = groups[0].intersection(*groups[1:]) if groups else everyone
        segment.members_count = len(members)  # type: ignore[attr-defined]
