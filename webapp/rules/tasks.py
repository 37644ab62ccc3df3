"""Background work on snapshots."""

from __future__ import annotations

import logging

from celery import shared_task

from webapp.rules.services import mark_analysis_due

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def analyse_host_task(host_id: int) -> bool:
    """Record that a host's analysis is due; the analysis engine will claim the flag."""
    newly = mark_analysis_due(host_id)
    logger.info("analysis of host %s is due%s", host_id, "" if newly else " (already flagged)")
    return newly
