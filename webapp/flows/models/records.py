"""Flow records as hosts report them, summed per time bucket on arrival."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from webapp.inventory.models import Host


class FlowRecord(models.Model):
    """The flows one host saw in one time bucket for one destination service and verdict."""

    # No database-level constraint: PostgreSQL checks a foreign key row by row at commit,
    # which for the tens of thousands of rows of one flow batch costs as much as writing them.
    # Rows are only written by ingest, for the host it has just authenticated; deleting a host
    # still deletes its flow records (the ORM cascades).
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="flow_records",
                             db_index=False, db_constraint=False)
    bucket_start = models.DateTimeField()
    bucket_end = models.DateTimeField()
    src = models.GenericIPAddressField()
    dst = models.GenericIPAddressField()
    proto = models.PositiveSmallIntegerField(null=True, blank=True)
    dport = models.PositiveIntegerField(null=True, blank=True)
    icmp_type = models.PositiveSmallIntegerField(null=True, blank=True)
    icmp_code = models.PositiveSmallIntegerField(null=True, blank=True)
    packets = models.BigIntegerField()
    bytes = models.BigIntegerField()
    records = models.PositiveIntegerField()  # raw records summed into this row
    verdict = models.CharField(max_length=8, null=True, blank=True)  # NULL: not known
    rule_ref = models.TextField(null=True, blank=True)  # NULL: the source names none
    observer = models.TextField(blank=True)  # interface, ENI or VM the source names
    source_format = models.CharField(max_length=16)

    class Meta:
        ordering = ["-bucket_start", "-id"]
        # Time only: flow questions are bounded in time, and each further index costs flow
        # ingest (COPY) a fifth of its speed.
        indexes = [
            models.Index(fields=["host", "-bucket_start"], name="flow_host_time"),
            models.Index(fields=["-bucket_start"], name="flow_time"),
        ]

    def __str__(self) -> str:
        return f"{self.src} -> {self.dst}:{self.dport} {self.verdict or '?'} at {self.bucket_start}"


class FlowBatch(models.Model):
    """One flow-log batch a host sent; its hash makes a re-sent batch count once."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="flow_batches",
                             db_index=False)
    content_hash = models.CharField(max_length=64)
    source = models.CharField(max_length=16)
    source_format = models.CharField(max_length=16)
    filename = models.CharField(max_length=1024, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    accepted = models.PositiveIntegerField()
    written = models.PositiveIntegerField()
    bad_lines = models.JSONField(default=list, blank=True)
    bad_line_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["host", "content_hash"], name="flow_batch_once"),
        ]

    def __str__(self) -> str:
        return f"flow batch {self.pk} of host {self.host_id}"
