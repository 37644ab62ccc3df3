"""The bulk writer: COPY on PostgreSQL, batched INSERTs elsewhere, the same rows either way."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from webapp.analysis.models import GraphEdge
from webapp.bulk import JsonText, insert_rows, timestamp_text
from webapp.flows.models import FlowRecord
from webapp.inventory.models import Host

pytestmark = pytest.mark.django_db

FIELDS = ("host", "bucket_start", "bucket_end", "src", "dst", "proto", "dport", "icmp_type",
          "icmp_code", "packets", "bytes", "records", "verdict", "rule_ref", "observer",
          "source_format")
T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def _rows(host: Host, count: int) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = [
        (host.pk, T0, T0 + timedelta(minutes=1), f"10.1.{i // 250}.{i % 250}", "10.1.0.9", 6,
         5432, None, None, i, 60 * i, 1, "DROP", "seg-DROP:", "", "kernel_log")
        for i in range(count)]
    rows.append((host.pk, T0, T0 + timedelta(minutes=1), "fd00::5", "2001:db8::1", 58, None,
                 128, 0, 1, 104, 1, None, None, "eni-0a1b", "aws_vpc"))
    return rows


def _in_order(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return sorted(rows, key=lambda row: (str(row[3]), str(row[4])))


def _stored() -> list[tuple[object, ...]]:
    return _in_order(list(FlowRecord.objects.values_list(*[
        "host_id" if f == "host" else f for f in FIELDS])))


def test_it_writes_every_row_with_its_values(node_01: Host) -> None:
    rows = _rows(node_01, 600)

    written = insert_rows(FlowRecord, FIELDS, rows)

    assert written == 601
    assert _stored() == _in_order(rows)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_it_copies_instead_of_inserting_on_postgresql(node_01: Host) -> None:
    with CaptureQueriesContext(connection) as queries:
        insert_rows(FlowRecord, FIELDS, _rows(node_01, 100))

    assert not [q for q in queries if "INSERT" in q["sql"]]
    assert FlowRecord.objects.count() == 101


def test_other_databases_get_the_same_rows_by_insert(node_01: Host,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "vendor", "sqlite")
    rows = _rows(node_01, 600)

    with CaptureQueriesContext(connection) as queries:
        written = insert_rows(FlowRecord, FIELDS, rows)

    assert written == 601
    assert [q for q in queries if "INSERT" in q["sql"]]
    assert _stored() == _in_order(rows)


def test_times_given_as_text_are_stored_as_times(node_01: Host) -> None:
    row = (node_01.pk, timestamp_text(T0), timestamp_text(T0 + timedelta(minutes=1)),
           "10.1.0.1", "10.1.0.9", 6, 5432, None, None, 1, 60, 1, "DROP", None, "", "aws_vpc")

    insert_rows(FlowRecord, FIELDS, [row])

    stored = FlowRecord.objects.get()
    assert (stored.bucket_start, stored.bucket_end) == (T0, T0 + timedelta(minutes=1))


def test_other_databases_take_times_as_text_too(node_01: Host,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "vendor", "sqlite")
    row = (node_01.pk, timestamp_text(T0), timestamp_text(T0 + timedelta(minutes=1)),
           "10.1.0.1", "10.1.0.9", 6, 5432, None, None, 1, 60, 1, "DROP", None, "", "aws_vpc")

    insert_rows(FlowRecord, FIELDS, [row])

    assert FlowRecord.objects.get().bucket_start == T0


def test_it_refuses_a_field_that_is_no_column() -> None:
    with pytest.raises(ValueError, match="not a column"):
        insert_rows(Host, ("workloads",), [])


def test_text_with_tabs_newlines_and_backslashes_survives_the_copy(node_01: Host) -> None:
    awkward = "drop\tin\\the\nrain\r"
    row = (node_01.pk, T0, T0 + timedelta(minutes=1), "10.1.0.1", "10.1.0.9", 6, 5432, None,
           None, 1, 60, 1, "DROP", awkward, "\\N", "kernel_log")

    insert_rows(FlowRecord, FIELDS, [row])

    stored = FlowRecord.objects.get()
    assert (stored.rule_ref, stored.observer, stored.icmp_type) == (awkward, "\\N", None)


@pytest.mark.parametrize("vendor", [
    pytest.param("postgresql", marks=pytest.mark.skipif(connection.vendor != "postgresql",
                                                       reason="COPY is PostgreSQL's")),
    "sqlite"])
def test_json_given_as_text_is_stored_as_the_value_it_spells(
        node_01: Host, vendor: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "vendor", vendor)
    evidence = [{"host": "node-01", "rule_number": 3, "text": "-j ACCEPT \"x\""}]

    insert_rows(GraphEdge, ("host", "src", "dst", "src_host", "allowed", "evidence",
                            "snapshots", "intent_version", "computed_at"), [
        (node_01.pk, "a", "b", "node-01", ["tcp/80"], JsonText(json.dumps(evidence)), {},
         "v1", T0),
        (node_01.pk, "c", "b", "node-01", ["tcp/80"], evidence, {}, "v1", T0)])

    assert [e.evidence for e in GraphEdge.objects.order_by("src")] == [evidence, evidence]
