"""Snapshots: one host's raw rule dumps at one time, and uploads that were refused."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from webapp.inventory.models import Host


def _empty_dict() -> dict[str, str]:
    return {}


class Snapshot(models.Model):
    """One host's dumps at one time, kept verbatim as evidence; identical content is re-stamped."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="snapshots",
                             db_index=False)
    content_hash = models.CharField(max_length=64)
    collected_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    # Until when the host was known to hold this content (heartbeats and identical uploads).
    last_seen_at = models.DateTimeField()
    dumps = models.JSONField(default=_empty_dict)
    warnings = models.JSONField(default=list, blank=True)
    rule_count = models.PositiveIntegerField(default=0)
    set_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-collected_at", "-id"]
        indexes = [
            models.Index(fields=["host", "-collected_at"], name="snapshot_host_time"),
            models.Index(fields=["collected_at"], name="snapshot_time"),
            models.Index(fields=["content_hash"], name="snapshot_hash"),
        ]

    def __str__(self) -> str:
        return f"snapshot {self.pk} of host {self.host_id} at {self.collected_at.isoformat()}"


class RejectedUpload(models.Model):
    """A snapshot upload that could not be parsed, kept whole for inspection."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="rejected_uploads",
                             db_index=False)
    received_at = models.DateTimeField(default=timezone.now)
    raw = models.JSONField()
    error = models.JSONField()

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["host", "-received_at"], name="rejected_host_time")]

    def __str__(self) -> str:
        return f"rejected upload {self.pk} of host {self.host_id}"
