"""Convergence per generation, and per host listed in it."""

from __future__ import annotations

from typing import Any

from django.db import models

from webapp.engine.analysis.drift import _iso
from webapp.inventory.models import Host


class GenerationResult(models.Model):
    """A generation (an intent version or membership change) and how the fleet reached it, as
    `segscope convergence --json` prints it."""

    number = models.PositiveIntegerField(unique=True)
    cause = models.TextField()
    intent_version = models.CharField(max_length=100, null=True, blank=True)
    opened_at = models.DateTimeField()
    p50 = models.FloatField(null=True, blank=True)
    p95 = models.FloatField(null=True, blank=True)
    max = models.FloatField(null=True, blank=True)
    stragglers = models.JSONField(default=list)
    converged = models.PositiveIntegerField(default=0)
    listed = models.PositiveIntegerField(default=0)
    drops = models.JSONField(default=list)
    inputs_hash = models.CharField(max_length=64)  # every snapshot, intent and workload read
    computed_at = models.DateTimeField()
    # Closed generations (every listed host converged) read the history up to a horizon only:
    # the newest horizon of those stored, and the history up to it, as they were computed.
    reads_until = models.DateTimeField(null=True, blank=True)
    reads_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return f"generation {self.number} ({self.cause})"

    def to_dict(self) -> dict[str, Any]:
        """The generation as the convergence contract states it (its hosts prefetched)."""
        return {
            "generation": self.number, "cause": self.cause, "intent": self.intent_version,
            "opened_at": _iso(self.opened_at),
            "hosts": [h.to_dict() for h in self.hosts.all()],
            "p50": self.p50, "p95": self.p95, "max": self.max,
            "stragglers": list(self.stragglers), "converged": self.converged,
            "listed": self.listed, "drops_while_converging": list(self.drops),
        }


class GenerationHost(models.Model):
    """When one host listed in a generation first held its desired state (None: not yet)."""

    generation = models.ForeignKey(GenerationResult, on_delete=models.CASCADE,
                                   related_name="hosts")
    host = models.ForeignKey(Host, null=True, on_delete=models.CASCADE,
                             related_name="convergence", db_index=False)
    host_name = models.CharField(max_length=253)
    position = models.PositiveIntegerField()
    converged_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["generation", "position"]
        indexes = [models.Index(fields=["host"], name="generation_host_host")]

    def __str__(self) -> str:
        return f"{self.host_name} in generation {self.generation_id}"

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host_name, "converged_at": _iso(self.converged_at),
                "seconds": self.seconds}
