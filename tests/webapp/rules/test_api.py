"""Snapshots, rules, sets and rejected uploads over the API, and the diff endpoint."""

from datetime import UTC, datetime

import pytest
from django.test import Client
from pytest_django import DjangoAssertNumQueries

from tests.webapp.rules.dumps import IPSET_SAVE, IPTABLES_SAVE, with_counters
from webapp.inventory.models import Host
from webapp.rules.models import Snapshot
from webapp.rules.services import SnapshotRejected, ingest_snapshot

pytestmark = pytest.mark.django_db


def _snapshot(host: Host, at: str, **dumps: str) -> Snapshot:
    dumps = dumps or {"iptables_save": IPTABLES_SAVE, "ipset_save": IPSET_SAVE}
    named = {name.replace("_", "-"): text for name, text in dumps.items()}
    receipt = ingest_snapshot(host, datetime.fromisoformat(at), named, raw={})
    host.refresh_from_db()
    return Snapshot.objects.get(pk=receipt.snapshot_id)


def test_alice_filters_snapshots_by_host_and_time(client_logged_in: Client, node_01: Host,
                                                  node_02: Host) -> None:
    _snapshot(node_01, "2026-11-26T03:00:00+00:00")
    wanted = _snapshot(node_01, "2026-11-26T04:00:00+00:00",
                       iptables_save=with_counters(IPTABLES_SAVE, 41))
    _snapshot(node_02, "2026-11-26T04:00:00+00:00")

    response = client_logged_in.get("/api/snapshots/", {
        "host": "node-01", "collected_at_after": "2026-11-26T03:30:00Z",
        "collected_at_before": "2026-11-26T05:00:00Z"})

    [found] = response.json()["results"]
    assert found["id"] == wanted.pk
    assert found["host_name"] == "node-01"
    assert found["rule_count"] == 5
    assert "dumps" not in found


def test_a_snapshot_detail_has_its_warnings_dumps_and_tables(client_logged_in: Client,
                                                             node_01: Host) -> None:
    snapshot = _snapshot(node_01, "2026-11-26T03:00:00+00:00",
                         iptables_save="junk before\n" + IPTABLES_SAVE)

    detail = client_logged_in.get(f"/api/snapshots/{snapshot.pk}/").json()

    assert detail["warnings"] == [
        {"file": "iptables-save", "line": 1, "message": "text outside any table ignored"}]
    assert detail["dumps"] == [{"name": "iptables-save",
                                "size": len("junk before\n" + IPTABLES_SAVE)}]
    assert detail["tables"] == [{"source": "iptables-save", "family": "ipv4", "name": "filter",
                                 "line": 3, "chain_count": 4, "rule_count": 5}]


def test_raw_gives_a_dump_back_verbatim(client_logged_in: Client, node_01: Host) -> None:
    snapshot = _snapshot(node_01, "2026-11-26T03:00:00+00:00")

    response = client_logged_in.get(f"/api/snapshots/{snapshot.pk}/raw/",
                                    {"dump": "iptables-save"})
    missing = client_logged_in.get(f"/api/snapshots/{snapshot.pk}/raw/", {"dump": "nft.json"})

    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == IPTABLES_SAVE
    assert missing.status_code == 404


def test_the_diff_lists_rules_added_and_removed_per_chain(client_logged_in: Client,
                                                          node_01: Host) -> None:
    before = _snapshot(node_01, "2026-11-26T03:00:00+00:00")
    changed = IPTABLES_SAVE.replace("--dport 22 -j ACCEPT", "--dport 2222 -j ACCEPT")
    after = _snapshot(node_01, "2026-11-26T04:00:00+00:00", iptables_save=changed)

    response = client_logged_in.get(f"/api/snapshots/{after.pk}/diff/", {"against": before.pk})

    assert response.status_code == 200
    assert response.json() == {
        "snapshot": after.pk, "against": before.pk, "added": 1, "removed": 1,
        "chains": [{"family": "ipv4", "table": "filter", "chain": "INPUT",
                    "added": [{"position": 2,
                               "text": "-A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT"}],
                    "removed": [{"position": 2,
                                 "text": "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"}]}]}


def test_counters_alone_make_no_diff(client_logged_in: Client, node_01: Host) -> None:
    before = _snapshot(node_01, "2026-11-26T03:00:00+00:00")
    after = _snapshot(node_01, "2026-11-26T04:00:00+00:00",
                      iptables_save=with_counters(IPTABLES_SAVE, 99))

    response = client_logged_in.get(f"/api/snapshots/{after.pk}/diff/", {"against": before.pk})

    assert (response.json()["added"], response.json()["chains"]) == (0, [])


def test_a_diff_across_two_hosts_is_a_400(client_logged_in: Client, node_01: Host,
                                          node_02: Host) -> None:
    ours = _snapshot(node_01, "2026-11-26T03:00:00+00:00")
    theirs = _snapshot(node_02, "2026-11-26T03:00:00+00:00")

    response = client_logged_in.get(f"/api/snapshots/{ours.pk}/diff/", {"against": theirs.pk})

    assert response.status_code == 400
    assert "host" in response.json()["against"][0]


@pytest.mark.parametrize(("against", "status"), [
    ("", 400), ("x", 400), ("999999", 404), ("\u00b2", 400),  # a digit int() does not read
])
def test_a_diff_needs_an_existing_snapshot_to_compare_with(
        client_logged_in: Client, node_01: Host, against: str, status: int) -> None:
    snapshot = _snapshot(node_01, "2026-11-26T03:00:00+00:00")

    response = client_logged_in.get(f"/api/snapshots/{snapshot.pk}/diff/", {"against": against})

    assert response.status_code == status


def test_alice_filters_rules_by_place_target_and_text(client_logged_in: Client,
                                                      node_01: Host) -> None:
    snapshot = _snapshot(node_01, "2026-11-26T03:00:00+00:00")

    by_chain = client_logged_in.get("/api/rules/", {
        "snapshot": snapshot.pk, "table": "filter", "chain": "cali-fw-cali1a2b3c"}).json()
    by_target = client_logged_in.get("/api/rules/", {"target": "DROP"}).json()
    by_text = client_logged_in.get("/api/rules/", {"text": "MATCH-SET payments"}).json()

    assert [r["position"] for r in by_chain["results"]] == [1, 2]
    assert [r["chain"] for r in by_target["results"]] == ["cali-fw-cali1a2b3c"]
    assert [r["packets"] for r in by_text["results"]] == [3]


def test_sets_list_without_members_and_detail_with_them(client_logged_in: Client,
                                                        node_01: Host) -> None:
    _snapshot(node_01, "2026-11-26T03:00:00+00:00")

    listed = client_logged_in.get("/api/sets/", {"name": "payments"}).json()["results"]
    detail = client_logged_in.get(f"/api/sets/{listed[0]['id']}/").json()

    assert listed[0]["member_count"] == 2
    assert "members" not in listed[0]
    assert detail["members"] == ["10.1.0.5", "10.1.0.6"]
    assert detail["type"] == "hash:ip"


def test_rejected_uploads_are_kept_for_inspection(client_logged_in: Client,
                                                  node_01: Host) -> None:
    with pytest.raises(SnapshotRejected) as caught:
        ingest_snapshot(node_01, datetime(2026, 11, 26, tzinfo=UTC),
                        {"iptables-save": "*filter\n-A INPUT -j DROP\n"},
                        raw={"host": "node-01", "dumps": {"iptables-save": "..."}})

    listed = client_logged_in.get("/api/rejected-uploads/", {"host": "node-01"}).json()
    detail = client_logged_in.get(f"/api/rejected-uploads/{caught.value.upload_id}/").json()

    assert listed["results"][0]["error"]["reason"] == "table filter has no COMMIT"
    assert "raw" not in listed["results"][0]
    assert detail["raw"] == {"host": "node-01", "dumps": {"iptables-save": "..."}}


@pytest.mark.parametrize("path", ["/api/snapshots/", "/api/rules/", "/api/sets/",
                                  "/api/rejected-uploads/"])
def test_rules_lists_take_a_fixed_number_of_queries(
        client_logged_in: Client, node_01: Host, node_02: Host, path: str,
        django_assert_max_num_queries: DjangoAssertNumQueries) -> None:
    for i in range(6):
        host = node_01 if i % 2 else node_02
        _snapshot(host, f"2026-11-26T0{i}:00:00+00:00",
                  iptables_save=with_counters(IPTABLES_SAVE, 100 + i), ipset_save=IPSET_SAVE)
        with pytest.raises(SnapshotRejected):
            ingest_snapshot(host, datetime(2026, 11, 26, tzinfo=UTC),
                            {"iptables-save": "*filter\n"}, raw={})

    # session, user, count, page (hosts joined where shown)
    with django_assert_max_num_queries(4):
        response = client_logged_in.get(path)

    assert response.json()["count"] >= 6
