"""Storage choices made for ingest speed keep the data whole: cascades without database
foreign keys, raw dumps compressed with lz4."""

from datetime import UTC, datetime

import pytest
from django.db import connection

from tests.conftest import SEGMENTED_RULES
from webapp.flows.models import FlowRecord
from webapp.flows.services import ingest_flows
from webapp.inventory.models import Host
from webapp.rules.models import ParsedRule, Snapshot
from webapp.rules.services import ingest_snapshot

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
DROP_LINE = ("2026-11-26T03:00:05+00:00 node-01 kernel: [1.0] seg-DROP: IN=cali1 OUT= "
             "SRC=10.1.0.5 DST=10.1.0.9 LEN=60 PROTO=TCP SPT=40001 DPT=5432 SYN\n")


def test_deleting_a_snapshot_deletes_its_rules(node_01: Host) -> None:
    receipt = ingest_snapshot(node_01, NOW, {"iptables-save": SEGMENTED_RULES}, raw={})
    assert ParsedRule.objects.filter(snapshot_id=receipt.snapshot_id).count() == 3

    Snapshot.objects.filter(pk=receipt.snapshot_id).delete()

    assert not ParsedRule.objects.exists()


def test_deleting_a_host_deletes_its_flows_and_rules(node_01: Host, node_02: Host) -> None:
    ingest_snapshot(node_01, NOW, {"iptables-save": SEGMENTED_RULES}, raw={})
    ingest_flows(node_01, "kernel_log", "kern.log", DROP_LINE)
    ingest_flows(node_02, "kernel_log", "kern.log", DROP_LINE)

    node_01.delete()

    assert list(FlowRecord.objects.values_list("host_id", flat=True)) == [node_02.pk]
    assert not ParsedRule.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="column compression is PostgreSQL's")
def test_raw_dumps_are_compressed_with_lz4_where_postgresql_has_it() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                       "WHERE name = 'default_toast_compression'")
        if not cursor.fetchone()[0]:
            pytest.fail("this PostgreSQL has no lz4; the tests expect the packaged server")
        cursor.execute("SELECT attname, attcompression FROM pg_attribute WHERE attrelid IN "
                       "('rules_snapshot'::regclass, 'rules_rejectedupload'::regclass) "
                       "AND attname IN ('dumps', 'raw') ORDER BY attname")
        assert cursor.fetchall() == [("dumps", "l"), ("raw", "l")]
