"""Drift findings, each in the partition of the host it names."""

from __future__ import annotations

from typing import Any

from django.db import models

from webapp.engine.analysis.drift import KINDS, _iso
from webapp.inventory.models import Host


class DriftFinding(models.Model):
    """One difference between the fleet and its intent, as `segscope drift --json` prints it."""

    class Kind(models.TextChoices):
        MISSING = "missing"
        EXCESS = "excess"
        STALE = "stale"
        SHADOWED = "shadowed"
        UNUSED = "unused"
        FOREIGN = "foreign"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    kind_rank = models.PositiveSmallIntegerField()  # the contract orders findings by kind first
    host = models.ForeignKey(Host, null=True, on_delete=models.CASCADE,
                             related_name="drift_findings", db_index=False)
    host_name = models.CharField(max_length=253, blank=True)
    position = models.PositiveIntegerField()  # order among the host's findings of its kind
    rule = models.JSONField(null=True, blank=True)
    set_name = models.CharField(max_length=253, null=True, blank=True)
    address = models.CharField(max_length=45, null=True, blank=True)
    src_segment = models.CharField(max_length=253, null=True, blank=True)
    dst_segment = models.CharField(max_length=253, null=True, blank=True)
    workloads = models.JSONField(default=list)
    ports = models.JSONField(default=list)
    since = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    snapshot_hash = models.CharField(max_length=64, blank=True)
    intent_version = models.CharField(max_length=100, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["host", "kind"], name="drift_host_kind"),
                   models.Index(fields=["kind_rank", "host_name", "position"],
                                name="drift_order")]

    def __str__(self) -> str:
        return f"{self.kind} on {self.host_name}"

    @classmethod
    def rank(cls, kind: str) -> int:
        return KINDS.index(kind)

    def to_dict(self) -> dict[str, Any]:
        """The finding as the drift contract states it."""
        out: dict[str, Any] = {
            "kind": self.kind, "host": self.host_name or None, "rule": self.rule,
            "set": self.set_name, "address": self.address, "src_segment": self.src_segment,
            "dst_segment": self.dst_segment, "workloads": list(self.workloads),
            "ports": list(self.ports), "since": _iso(self.since)}
        if self.note:
            out["note"] = self.note
        return out
