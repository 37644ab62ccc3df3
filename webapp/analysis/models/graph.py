"""Effective edges: one row per workload pair allowed something, in its destination host's
partition."""

from __future__ import annotations

from typing import Any

from django.db import models

from webapp.inventory.models import Host


def _empty_dict() -> dict[str, str]:
    return {}


class GraphEdge(models.Model):
    """What a NEW connection from `src` to `dst` is allowed, with the deciding rules, as
    `segscope graph --json` prints it, and the snapshots and intent it was computed from."""

    # The partition: every pair whose destination lives on this host.
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="graph_edges",
                             db_index=False)
    src = models.CharField(max_length=253)
    dst = models.CharField(max_length=253)
    src_host = models.CharField(max_length=253)
    allowed = models.JSONField(default=list)
    evidence = models.JSONField(default=list)
    snapshots = models.JSONField(default=_empty_dict)  # host -> content hash it was read from
    intent_version = models.CharField(max_length=100, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["host", "src", "dst"],
                                               name="graph_edge_unique_pair")]
        indexes = [models.Index(fields=["src", "dst"], name="graph_edge_pair"),
                   models.Index(fields=["src_host"], name="graph_edge_src_host")]

    def __str__(self) -> str:
        return f"{self.src} -> {self.dst}"

    def to_dict(self) -> dict[str, Any]:
        """The edge as the graph contract states it."""
        return {"src": self.src, "dst": self.dst, "allowed": list(self.allowed),
                "evidence": list(self.evidence)}
