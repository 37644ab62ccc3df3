"""Fixtures shared by every test: personas and clients."""

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.db import connections
from django.test import Client

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """Close the connection pools before the test databases are made: Django switches to a
    test database by renaming it in the settings, which a pool opened earlier (a test
    module's import may query the database) would not heed, its connections going on to
    the database DATABASE_URL names."""
    for connection in connections.all():
        connection.close()
        if connection.settings_dict.get("OPTIONS", {}).get("pool"):
            connection.close_pool()  # type: ignore[attr-defined]


@pytest.fixture
def alice(django_user_model: type[AbstractBaseUser]) -> AbstractBaseUser:
    """Alice, a viewer: logged in, no special rights."""
    return django_user_model.objects.create_user(username="alice", password="alice-password")


@pytest.fixture
def client_logged_in(client: Client, alice: AbstractBaseUser) -> Client:
    """A browser session logged in as alice."""
    client.force_login(alice)
    return client


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The real captured inputs: $SEGSCOPE_CORPUS, else ../shared/corpus beside the repo."""
    path = Path(os.environ.get("SEGSCOPE_CORPUS", REPO_ROOT.parent / "shared" / "corpus"))
    if not path.is_dir():
        pytest.fail(f"corpus not found at {path} (set SEGSCOPE_CORPUS)")
    return path


SEGMENTED_RULES = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:seg-in-cali0003 - [0:0]
[40:2400] -A FORWARD -o cali0003 -j seg-in-cali0003
[3:180] -A seg-in-cali0003 -s 10.1.0.5/32 -p tcp -m tcp --dport 5432 -j ACCEPT
[9:540] -A seg-in-cali0003 -j DROP
COMMIT
"""


@pytest.fixture
def node_02_with_a_drop(db):
    """node-02 runs ledger-1 behind cali0003: its rules allow only 10.1.0.5 on tcp/5432, and
    it logged a dropped flow from 10.1.0.6."""
    from datetime import UTC, datetime

    from webapp.flows.models import FlowRecord
    from webapp.inventory.models import Host, Workload
    from webapp.rules.services import ingest_snapshot

    now = datetime(2026, 11, 26, 3, 0, 5, tzinfo=UTC)
    host = Host.objects.create(name="node-02", addresses=["192.0.2.12"])
    Workload.objects.create(name="ledger-1", host=host, addresses=["10.2.0.9"],
                            interface="cali0003", labels={"app": "ledger"}, started_at=now)
    ingest_snapshot(host, now, {"iptables-save": SEGMENTED_RULES}, raw={})
    FlowRecord.objects.create(host=host, bucket_start=now, bucket_end=now, src="10.1.0.6",
                              dst="10.2.0.9", proto=6, dport=5432, packets=3, bytes=180,
                              records=3, verdict="DROP", rule_ref="segscope-drop ledger-1",
                              source_format="ulogd2")
    return host
