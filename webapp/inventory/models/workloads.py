"""Workloads running on hosts, and segments: named label selectors over them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Q

from webapp.inventory.models.hosts import Host
from webapp.inventory.models.queries import running_at, selector_q

if TYPE_CHECKING:
    from django.db.models import QuerySet


def _empty_dict() -> dict[str, str]:
    return {}


class Workload(models.Model):
    """One container, pod or service instance on a host, from its start to its stop."""

    class Attachment(models.TextChoices):
        BRIDGED = "bridged", "bridged (crosses the host's FORWARD chain)"
        HOST = "host", "host (the host's own INPUT/OUTPUT)"

    name = models.CharField(max_length=253)
    # The unique constraints below lead with the host: its own index would be redundant.
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="workloads",
                             db_index=False)
    addresses = models.JSONField(default=list, blank=True)
    attachment = models.CharField(
        max_length=8, choices=Attachment.choices, default=Attachment.BRIDGED)
    interface = models.CharField(max_length=15, blank=True)
    labels = models.JSONField(default=_empty_dict, blank=True)
    started_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["host__name", "name", "-started_at"]
        constraints = [
            # A new container under an old name is a new row; history is never rewritten.
            models.UniqueConstraint(
                fields=["host", "name", "started_at"], name="workload_unique_start"),
            models.UniqueConstraint(
                fields=["host", "name"], condition=Q(stopped_at__isnull=True),
                name="workload_one_running_per_name"),
        ]
        indexes = [
            models.Index(fields=["started_at", "stopped_at"], name="workload_lifetime"),
            models.Index(fields=["name"], name="workload_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} on {self.host_id}"

    @property
    def active(self) -> bool:
        return self.stopped_at is None


class Segment(models.Model):
    """A named label selector; its members are derived from workload labels, never stored."""

    name = models.CharField(max_length=100, unique=True)
    selector = models.JSONField(default=_empty_dict)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def members(self, at: datetime | None = None) -> QuerySet[Workload]:
        """The workloads running at `at` (now when None) whose labels match the selector."""
        return Workload.objects.filter(running_at(at), selector_q(self.selector))
