"""What other apps' changes mean for the analysis."""

from __future__ import annotations

from typing import Any

from webapp.analysis.tasks import request_fleet_analysis


def intent_published(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """A new intent version: the whole fleet is due."""
    if created and not kwargs.get("raw"):
        request_fleet_analysis()


def membership_changed(sender: Any, **kwargs: Any) -> None:
    """Workloads started, stopped or relabelled, or hosts changed: the whole fleet is due."""
    request_fleet_analysis()
