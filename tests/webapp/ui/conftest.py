"""The analysed demo bundle the page tests read."""

from __future__ import annotations

from pathlib import Path

import pytest
from celery import current_app

from webapp.analysis.convergence import compute_convergence
from webapp.analysis.partitions import analyse_host, due_host_ids
from webapp.rules.bundle import ingest_bundle

DEMO = Path(__file__).resolve().parents[3] / "fixtures" / "demo"


@pytest.fixture
def demo() -> None:
    """The demo bundle, analysed as the workers would: every partition and convergence."""
    ingest_bundle(DEMO)
    if not current_app.conf.task_always_eager:
        current_app.control.purge()  # the analyses it asked for run here, not in a worker
    for host_id in due_host_ids():
        analyse_host(host_id)
    compute_convergence()
