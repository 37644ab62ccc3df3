"""What an analysis is computed from, summed up: equal while nothing it reads changes, new as
soon as a workload or host it reads does."""

from __future__ import annotations

from pathlib import Path

from django.utils import timezone

from webapp.analysis.timeline import fleet_inputs, load_database_timeline
from webapp.inventory.models import Host, Workload


def test_the_membership_hash_follows_every_field_a_workload_or_host_is_read_by(
        demo: Path) -> None:
    seen = {fleet_inputs().membership}
    assert fleet_inputs().membership in seen  # nothing changed

    workload = Workload.objects.filter(stopped_at__isnull=True).order_by("id").first()
    assert workload is not None
    changes = [
        lambda: Workload.objects.filter(pk=workload.pk).update(labels={"segment": "other"}),
        lambda: Workload.objects.filter(pk=workload.pk).update(addresses=["10.9.9.9"]),
        lambda: Workload.objects.filter(pk=workload.pk).update(interface="eth9"),
        lambda: Workload.objects.filter(pk=workload.pk).update(stopped_at=timezone.now()),
        lambda: Host.objects.filter(pk=workload.host_id).update(labels={"zone": "b"}),
        lambda: Host.objects.filter(pk=workload.host_id).update(addresses=["192.0.2.9"]),
    ]
    for change in changes:
        change()
        membership = fleet_inputs().membership
        assert membership not in seen
        seen.add(membership)


def test_the_timeline_reads_every_workload_with_its_host_and_fields(demo: Path) -> None:
    timeline = load_database_timeline()

    stored = sorted((w.name, w.host.name, tuple(w.addresses), sorted(w.labels.items()),
                     w.interface or "", w.started_at, w.stopped_at)
                    for w in Workload.objects.select_related("host"))
    assert stored == sorted((w.name, w.host, w.addresses, sorted(w.labels.items()),
                             w.interface, w.started_at, w.stopped_at)
                            for w in timeline.workloads)
    assert len(stored) == Workload.objects.count() > 0
