"""Flow records over the API."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from pytest_django import DjangoAssertNumQueries

from webapp.flows.models import FlowRecord
from webapp.inventory.models import Host

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def _flow(host: Host, minute: int, src: str, dst: str, dport: int, verdict: str | None,
          ) -> FlowRecord:
    start = T0 + timedelta(minutes=minute)
    return FlowRecord.objects.create(
        host=host, bucket_start=start, bucket_end=start + timedelta(minutes=1), src=src,
        dst=dst, proto=6, dport=dport, packets=1, bytes=60, records=1, verdict=verdict,
        source_format="kernel_log")


def test_alice_filters_flows_by_host_verdict_addresses_port_and_time(
        client_logged_in: Client, node_01: Host, node_02: Host) -> None:
    wanted = _flow(node_01, 5, "10.1.0.5", "10.1.0.9", 5432, "DROP")
    _flow(node_01, 5, "10.1.0.5", "10.1.0.9", 5432, "ACCEPT")
    _flow(node_02, 5, "10.1.0.5", "10.1.0.9", 5432, "DROP")
    _flow(node_01, 5, "10.1.0.6", "10.1.0.9", 5432, "DROP")
    _flow(node_01, 5, "10.1.0.5", "10.1.0.9", 80, "DROP")
    _flow(node_01, 90, "10.1.0.5", "10.1.0.9", 5432, "DROP")

    response = client_logged_in.get("/api/flows/", {
        "host": "node-01", "verdict": "DROP", "src": "10.1.0.5", "dst": "10.1.0.9",
        "dport": 5432, "bucket_start_after": "2026-11-26T03:00:00Z",
        "bucket_start_before": "2026-11-26T04:00:00Z"})

    [found] = response.json()["results"]
    assert found["id"] == wanted.pk
    assert found["host_name"] == "node-01"


def test_a_filter_by_something_that_is_no_address_is_refused(client_logged_in: Client) -> None:
    response = client_logged_in.get("/api/flows/", {"src": "ledger", "dst": "10.1.0.9"})

    assert response.status_code == 400
    assert list(response.json()) == ["src"]


def test_a_time_filter_is_read_as_utc_whatever_its_offset(
        client_logged_in: Client, node_01: Host) -> None:
    wanted = _flow(node_01, 5, "10.1.0.5", "10.1.0.9", 5432, "DROP")

    # 10:46-16:18 is 03:04 UTC the next day: an offset Python accepts and PostgreSQL refuses.
    response = client_logged_in.get("/api/flows/", {
        "bucket_start_after": "2026-11-25T10:46:00-16:18",
        "bucket_start_before": "2026-11-26T03:10:00Z"})
    overflow = client_logged_in.get("/api/flows/", {
        "bucket_start_after": "9999-12-31T23:00:00-16:18"})

    assert [found["id"] for found in response.json()["results"]] == [wanted.pk]
    assert overflow.status_code == 400


def test_listing_flows_takes_a_fixed_number_of_queries(
        client_logged_in: Client, node_01: Host, node_02: Host,
        django_assert_max_num_queries: DjangoAssertNumQueries) -> None:
    for i in range(30):
        _flow(node_01 if i % 2 else node_02, i, "10.1.0.5", "10.1.0.9", 5432, "DROP")

    with django_assert_max_num_queries(4):
        response = client_logged_in.get("/api/flows/")

    assert response.json()["count"] == 30
