"""The fleet, host, flow and explain pages, as a logged-in engineer sees them."""

import pytest

from webapp.inventory.models import Host

pytestmark = pytest.mark.django_db


@pytest.fixture
def node(node_02_with_a_drop):
    return node_02_with_a_drop


def test_the_fleet_page_lists_hosts_and_recent_drops(client_logged_in, node):
    page = client_logged_in.get("/").content.decode()
    assert 'href="/hosts/node-02/"' in page
    assert "segscope-drop ledger-1" in page


def test_the_fleet_page_says_how_to_start_when_no_host_reported(client_logged_in):
    assert "No hosts reported yet" in client_logged_in.get("/").content.decode()


def test_the_host_page_shows_workloads_and_rules_with_counters(client_logged_in, node):
    page = client_logged_in.get("/hosts/node-02/").content.decode()
    assert "ledger-1" in page
    assert "-A seg-in-cali0003 -s 10.1.0.5/32 -p tcp -m tcp --dport 5432 -j ACCEPT" in page
    assert ">540<" in page  # bytes counter of the DROP rule


def test_an_unknown_host_page_is_not_found(client_logged_in):
    assert client_logged_in.get("/hosts/nope/").status_code == 404


def test_the_flow_page_filters_by_verdict(client_logged_in, node):
    assert "10.1.0.6" in client_logged_in.get("/flows/?verdict=DROP").content.decode()
    assert "10.1.0.6" not in client_logged_in.get("/flows/?verdict=ACCEPT").content.decode()


def test_explain_names_the_rule_that_dropped_a_flow(client_logged_in, node):
    page = client_logged_in.get(
        "/explain/?host=node-02&hook=FORWARD&src=10.1.0.6&dst=10.2.0.9&proto=tcp"
        "&dport=5432&sport=40000&out_iface=cali0003&ct_state=NEW").content.decode()
    assert "Decided by <strong>filter seg-in-cali0003 rule 2 (line 8)</strong>" in page
    assert "9 pkts / 540 B" in page


def test_explain_over_the_api_returns_the_evidence(client_logged_in, node):
    response = client_logged_in.post("/api/explain/", {
        "host": "node-02", "hook": "FORWARD", "src": "10.1.0.5", "dst": "10.2.0.9",
        "proto": "tcp", "sport": 40000, "dport": 5432, "out_iface": "cali0003"},
        content_type="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["verdict"] == "ACCEPT"
    assert body["decided_by"] == {"table": "filter", "chain": "seg-in-cali0003",
                                  "rule_number": 1, "line": 7}
    assert len(body["snapshot"]["hash"]) == 64


def test_explain_for_a_host_without_rules_is_a_conflict(client_logged_in):
    Host.objects.create(name="node-09")
    response = client_logged_in.post("/api/explain/", {
        "host": "node-09", "src": "10.1.0.5", "dst": "10.2.0.9"},
        content_type="application/json")
    assert response.status_code == 409


def test_pages_require_login(client, node):
    for url in ("/", "/hosts/node-02/", "/flows/", "/explain/"):
        assert client.get(url).status_code == 302
    assert client.post("/api/explain/", {}).status_code in (401, 403)


def _drops(host: Host, *records_and_hours_ago: tuple[int, int]) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from webapp.flows.models import FlowRecord

    now = timezone.now()
    for records, hours_ago in records_and_hours_ago:
        moment = now - timedelta(hours=hours_ago)
        FlowRecord.objects.create(host=host, bucket_start=moment, bucket_end=moment,
                                  src="10.1.0.6", dst="10.2.0.9", proto=6, dport=5432, packets=1,
                                  bytes=60, records=records, verdict="DROP",
                                  source_format="ulogd2")


def test_the_fleet_page_counts_dropped_records_of_the_last_day_not_rows(client_logged_in):
    _drops(Host.objects.create(name="node-03"), (3, 1), (2, 2), (7, 30))

    page = client_logged_in.get("/").content.decode()

    assert '<span class="figure">5</span> dropped flow records in the 24 h' in page


def test_a_recorded_fleet_counts_the_day_up_to_its_newest_flow(client_logged_in):
    _drops(Host.objects.create(name="node-03"), (3, 24 * 7), (2, 24 * 7 + 5), (7, 24 * 9))

    page = client_logged_in.get("/").content.decode()

    assert '<span class="figure">5</span> dropped flow records in the 24 h' in page


def test_the_host_page_says_until_when_the_host_held_its_rules(client_logged_in, node):
    from datetime import UTC, datetime

    from webapp.rules.services import record_heartbeat

    node.refresh_from_db()  # its latest snapshot, set by the ingest
    snapshot = node.snapshots.get()
    heartbeat_at = datetime(2026, 11, 26, 3, 7, 5, tzinfo=UTC)
    assert record_heartbeat(node, heartbeat_at, snapshot.content_hash)

    page = client_logged_in.get("/hosts/node-02/").content.decode()

    assert "still held these rules at\n    2026-11-26 03:07:05" in page


@pytest.fixture
def dns_node(db):
    """node-05 forwards DNS answers of at most 512 bytes to its workloads."""
    from datetime import UTC, datetime

    from webapp.rules.services import ingest_snapshot

    host = Host.objects.create(name="node-05")
    ingest_snapshot(host, datetime(2026, 11, 26, 3, 0, 5, tzinfo=UTC), {"iptables-save": (
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        "-A FORWARD -p udp -m udp --sport 53 -m length --length 0:512 -j ACCEPT\nCOMMIT\n")},
        raw={})
    return host


def test_explain_over_the_api_compares_the_length_it_is_given(client_logged_in, dns_node):
    answer = {"host": "node-05", "hook": "FORWARD", "src": "10.0.0.53", "dst": "10.2.0.9",
              "proto": "udp", "sport": 53, "dport": 40000}

    def verdict(**fields):
        response = client_logged_in.post("/api/explain/", {**answer, **fields},
                                         content_type="application/json")
        assert response.status_code == 200, response.content
        return response.json()["verdict"]

    assert [verdict(length=300), verdict(length=1200), verdict()] == [
        "ACCEPT", "DROP", "UNKNOWN"]


def test_explain_takes_the_length_on_the_page(client_logged_in, dns_node):
    page = client_logged_in.get(
        "/explain/?host=node-05&hook=FORWARD&src=10.0.0.53&dst=10.2.0.9&proto=udp"
        "&sport=53&dport=40000&ct_state=NEW&length=1200").content.decode()
    assert 'name="length"' in page
    assert "Decided by <strong>filter FORWARD policy</strong>" in page
