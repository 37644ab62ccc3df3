"""Fixtures of the analysis tests: the demo bundle ingested, Celery inline."""

from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from celery import current_app
from django.core.management import call_command

from tests.webapp.inventory.personas import agent, node_01, node_02, oscar, oscar_client

__all__ = ["agent", "node_01", "node_02", "oscar", "oscar_client"]

DEMO = Path(__file__).resolve().parents[3] / "fixtures" / "demo"


@pytest.fixture
def inline_tasks() -> Iterator[None]:
    """Tasks that other tasks ask for run at once, in this process (no broker)."""
    conf = current_app.conf
    before = conf.task_always_eager
    conf.task_always_eager = True
    yield
    conf.task_always_eager = before


@pytest.fixture
def demo(db: None, inline_tasks: None) -> Path:
    """The demo bundle ingested: three hosts, twelve workloads, two intent versions."""
    call_command("ingest", str(DEMO), stdout=StringIO())
    return DEMO
