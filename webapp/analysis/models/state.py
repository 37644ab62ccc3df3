"""Per host: what its partition was last computed from, and how far a running analysis is."""

from __future__ import annotations

from django.db import models

from webapp.inventory.models import Host


class AnalysisState(models.Model):
    """A host's analysis: idempotency (the inputs hash of the stored partition) and progress."""

    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    host = models.OneToOneField(Host, on_delete=models.CASCADE, related_name="analysis_state")
    inputs_hash = models.CharField(max_length=64, blank=True)
    # What the host's workloads exchange with other hosts' (pairs and ports): when it changes,
    # the partitions at the other end are due too.
    exchange_hash = models.CharField(max_length=64, blank=True)
    # The hosts at the other end when it was computed (null: not recorded yet), so that a
    # change reaches the hosts that lost a pair without a search through every stored edge.
    peers = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DONE)
    # Claims number the runs: only the newest run of a host may store its partition.
    run = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"analysis of host {self.host_id}: {self.status} ({self.done}/{self.total})"
