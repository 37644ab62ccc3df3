"""Query conditions on workloads that models and services share."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.db.models import Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import Exact


def running_at(at: datetime | None = None) -> Q:
    """Workloads running at `at`; None means now (not stopped)."""
    if at is None:
        return Q(stopped_at__isnull=True)
    return Q(started_at__lte=at) & (Q(stopped_at__isnull=True) | Q(stopped_at__gt=at))


def selector_q(selector: Mapping[str, str]) -> Q:
    """Workloads whose labels hold every key=value of selector (the empty selector: all)."""
    condition = Q()
    for key, value in selector.items():
        # An expression rather than `labels__<key>`: label keys may hold `__`, dots and slashes.
        condition &= Q(Exact(KeyTextTransform(key, "labels"), value))
    return condition
