"""What other apps' changes mean for the analysis."""

from __future__ import annotations

from typing import Any

from webapp.analysis.tasks import request_analysis, request_fleet_analysis
from webapp.live import broadcast


def snapshot_stored(sender: Any, host_id: int, **kwargs: Any) -> None:
    """A host's new snapshot: its analysis is due (the flag is set with the snapshot)."""
    broadcast.host_snapshot(host_id)
    request_analysis(host_id)


def intent_published(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """A new intent version: the whole fleet is due."""
    if created and not kwargs.get("raw"):
        request_fleet_analysis()


def membership_changed(sender: Any, **kwargs: Any) -> None:
    """Workloads started, stopped or relabelled, or hosts changed: the whole fleet is due."""
    request_fleet_analysis()
