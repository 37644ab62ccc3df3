"""Snapshot ingest: stored once per content, atomic, refused with the place of the error."""

import hashlib
import json
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings

from tests.webapp.inventory.personas import AgentClient
from tests.webapp.rules.dumps import BROKEN_IPTABLES_SAVE, IPSET_SAVE, IPTABLES_SAVE, with_counters
from webapp.inventory.models import Host
from webapp.rules import dumps as rule_dumps
from webapp.rules import services
from webapp.rules.models import ParsedChain, ParsedRule, ParsedSet, RejectedUpload, Snapshot

pytestmark = pytest.mark.django_db

SNAPSHOTS = "/api/ingest/snapshots/"


def snapshot_body(dumps: dict[str, str] | None = None, at: str = "2026-11-26T03:00:05Z",
                  host: str = "node-01") -> dict[str, Any]:
    return {"host": host, "collected_at": at,
            "dumps": dumps if dumps is not None else {"iptables-save": IPTABLES_SAVE,
                                                      "ipset-save": IPSET_SAVE}}


def test_node_01_stores_a_snapshot_with_its_parsed_rows(agent: AgentClient,
                                                        node_01: Host) -> None:
    response = agent.send(SNAPSHOTS, snapshot_body())

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "created"
    assert body["warnings"] == []
    snapshot = Snapshot.objects.get(pk=body["snapshot"])
    assert snapshot.content_hash == body["hash"]
    assert snapshot.dumps == {"iptables-save": IPTABLES_SAVE, "ipset-save": IPSET_SAVE}
    assert snapshot.collected_at == datetime(2026, 11, 26, 3, 0, 5, tzinfo=UTC)
    assert (snapshot.rule_count, snapshot.set_count) == (5, 2)
    node_01.refresh_from_db()
    assert node_01.last_snapshot == snapshot
    assert node_01.last_seen_at is not None
    assert node_01.analysis_due_at is not None


def test_parsed_rules_keep_place_text_target_and_counters(agent: AgentClient,
                                                          node_01: Host) -> None:
    agent.send(SNAPSHOTS, snapshot_body())

    rules = list(ParsedRule.objects.values_list(
        "family", "table", "chain", "position", "line", "text", "target", "packets", "bytes"))
    assert rules[0] == ("ipv4", "filter", "INPUT", 1, 7,
                        "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                        "ACCEPT", 40, 3200)
    assert rules[3][2:4] == ("cali-fw-cali1a2b3c", 1)
    chains = dict(ParsedChain.objects.values_list("name", "policy"))
    assert chains == {"INPUT": "DROP", "FORWARD": "DROP", "OUTPUT": "ACCEPT",
                      "cali-fw-cali1a2b3c": ""}
    sets = dict(ParsedSet.objects.values_list("name", "members"))
    assert sets == {"payments": ["10.1.0.5", "10.1.0.6"],
                    "nets": ["10.2.0.0/16", "10.3.0.0/24 nomatch"]}


def test_the_hash_is_sha256_over_names_and_texts_in_name_order(agent: AgentClient,
                                                               node_01: Host) -> None:
    expected = hashlib.sha256()
    for name, text in sorted({"iptables-save": IPTABLES_SAVE, "ipset-save": IPSET_SAVE}.items()):
        expected.update(name.encode() + b"\0" + text.encode() + b"\0")

    response = agent.send(SNAPSHOTS, snapshot_body())

    assert response.json()["hash"] == expected.hexdigest()


def test_the_same_snapshot_twice_is_stored_once_and_seen_again(agent: AgentClient,
                                                               node_01: Host) -> None:
    first = agent.send(SNAPSHOTS, snapshot_body())

    again = agent.send(SNAPSHOTS, snapshot_body(at="2026-11-26T03:00:15Z"))

    assert again.status_code == 200
    assert again.json() == {"snapshot": first.json()["snapshot"], "hash": first.json()["hash"],
                            "status": "seen-again"}
    assert Snapshot.objects.count() == 1
    assert ParsedRule.objects.count() == 5
    snapshot = Snapshot.objects.get()
    assert snapshot.collected_at == datetime(2026, 11, 26, 3, 0, 5, tzinfo=UTC)
    assert snapshot.last_seen_at == datetime(2026, 11, 26, 3, 0, 15, tzinfo=UTC)


def test_moved_counters_are_new_evidence_and_a_new_snapshot(agent: AgentClient,
                                                            node_01: Host) -> None:
    agent.send(SNAPSHOTS, snapshot_body())

    later = agent.send(SNAPSHOTS, snapshot_body(
        {"iptables-save": with_counters(IPTABLES_SAVE, 41), "ipset-save": IPSET_SAVE},
        at="2026-11-26T03:00:15Z"))

    assert later.status_code == 201
    node_01.refresh_from_db()
    assert node_01.last_snapshot_id == later.json()["snapshot"]
    assert ParsedRule.objects.filter(snapshot_id=later.json()["snapshot"]).count() == 5


def test_content_going_back_to_an_older_state_is_a_new_snapshot(agent: AgentClient,
                                                                 node_01: Host) -> None:
    a = snapshot_body()
    b = snapshot_body({"iptables-save": with_counters(IPTABLES_SAVE, 41)})

    statuses = [agent.send(SNAPSHOTS, body).status_code for body in (a, b, a)]

    assert statuses == [201, 201, 201]
    assert Snapshot.objects.count() == 3


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs row locks")
@pytest.mark.django_db(transaction=True)
def test_the_same_snapshot_sent_twice_at_once_is_stored_once(
        node_01: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    both_checked = threading.Barrier(2, timeout=30)
    parse = services.parse_dumps

    def parse_after_both_checked(*args: Any, **kwargs: Any) -> Any:
        both_checked.wait()  # both uploads found no identical latest snapshot
        return parse(*args, **kwargs)

    monkeypatch.setattr(services, "parse_dumps", parse_after_both_checked)
    created: list[bool] = []

    def upload() -> None:
        try:
            host = Host.objects.get(pk=node_01.pk)
            created.append(services.ingest_snapshot(
                host, datetime(2026, 11, 26, 3, 0, 5, tzinfo=UTC),
                {"iptables-save": IPTABLES_SAVE}, raw={}).created)
        finally:
            connection.close()

    threads = [threading.Thread(target=upload) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(created) == [False, True]
    assert Snapshot.objects.count() == 1
    assert ParsedRule.objects.count() == 5


def test_a_malformed_dump_is_refused_with_its_file_line_and_column(agent: AgentClient,
                                                                   node_01: Host) -> None:
    earlier = agent.send(SNAPSHOTS, snapshot_body()).json()["snapshot"]
    bad = snapshot_body({"iptables-save": BROKEN_IPTABLES_SAVE}, at="2026-11-26T03:01:00Z")

    response = agent.send(SNAPSHOTS, bad)

    assert response.status_code == 422
    assert response.json()["error"] == {
        "file": "iptables-save", "line": 7, "column": 4,
        "reason": "chain NOWHERE is not declared in table filter"}
    upload = RejectedUpload.objects.get(pk=response.json()["upload"])
    assert upload.raw == bad
    assert upload.host == node_01
    # Earlier data stays intact: one snapshot, its rows, still the host's latest.
    assert list(Snapshot.objects.values_list("id", flat=True)) == [earlier]
    assert ParsedRule.objects.count() == 5
    node_01.refresh_from_db()
    assert node_01.last_snapshot_id == earlier


def test_a_malformed_ipset_dump_is_refused_too(agent: AgentClient, node_01: Host) -> None:
    response = agent.send(SNAPSHOTS, snapshot_body({"ipset-save": "add nosuchset 10.0.0.1\n"}))

    assert response.status_code == 422
    assert response.json()["error"]["file"] == "ipset-save"
    assert response.json()["error"]["line"] == 1
    assert not Snapshot.objects.exists()


def test_a_body_over_the_size_limit_is_413(agent: AgentClient, node_01: Host,
                                           settings: Settings) -> None:
    body = snapshot_body()
    settings.SEGSCOPE_MAX_UPLOAD_BYTES = len(json.dumps(body)) - 1

    response = agent.send(SNAPSHOTS, body)

    assert response.status_code == 413
    assert response.json()["error"]["limit"] == "SEGSCOPE_MAX_UPLOAD_BYTES"
    assert response.json()["error"]["maximum"] == len(json.dumps(body)) - 1
    assert not Snapshot.objects.exists()


def test_more_rules_than_the_limit_is_413(agent: AgentClient, node_01: Host,
                                          settings: Settings) -> None:
    settings.SEGSCOPE_MAX_RULES = 4

    response = agent.send(SNAPSHOTS, snapshot_body())

    assert response.status_code == 413
    assert response.json()["error"]["limit"] == "SEGSCOPE_MAX_RULES"
    assert not Snapshot.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_failure_mid_write_leaves_neither_snapshot_nor_rows(
        agent: AgentClient, node_01: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[int] = []

    write = services.write_rules

    def rules_then_fail(snapshot: Snapshot, rules: Any) -> None:
        write(snapshot, rules)
        written.append(ParsedRule.objects.filter(snapshot=snapshot).count())
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "write_rules", rules_then_fail)
    agent.raise_request_exception = False

    response = agent.send(SNAPSHOTS, snapshot_body())

    assert response.status_code == 500
    assert written == [5]  # the rules were in the database when the write failed
    assert not Snapshot.objects.exists()
    assert not ParsedRule.objects.exists()
    assert not ParsedChain.objects.exists()
    node_01.refresh_from_db()
    assert node_01.last_snapshot is None


def test_a_snapshot_needs_at_least_one_dump(agent: AgentClient, node_01: Host) -> None:
    response = agent.send(SNAPSHOTS, snapshot_body({}))

    assert response.status_code == 400
    assert "dumps" in response.json()
    assert not Snapshot.objects.exists()


def test_an_unknown_dump_is_kept_with_a_warning(agent: AgentClient, node_01: Host) -> None:
    response = agent.send(SNAPSHOTS, snapshot_body({"ebtables-save": "*filter\n"}))

    assert response.status_code == 201
    assert response.json()["warnings"] == [
        {"file": "ebtables-save", "line": 0, "message": "unknown dump 'ebtables-save': stored, "
                                                         "not parsed"}]
    assert Snapshot.objects.get().dumps == {"ebtables-save": "*filter\n"}


NFT_JSON = json.dumps({"nftables": [
    {"metainfo": {"version": "1.0.9", "json_schema_version": 1}},
    {"table": {"family": "inet", "name": "filter", "handle": 1}},
    {"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 1,
               "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
    {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 2, "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                   "right": 22}},
        {"counter": {"packets": 3, "bytes": 180}},
        {"accept": None}]}},
]}, indent=2)


@pytest.mark.skipif(rule_dumps.nft_parser() is None, reason="no nft parser in this checkout")
def test_nft_json_is_parsed_into_rules_where_the_parser_exists(agent: AgentClient,
                                                               node_01: Host) -> None:
    response = agent.send(SNAPSHOTS, snapshot_body({"nft.json": NFT_JSON}))

    assert response.status_code == 201
    rule = ParsedRule.objects.get()
    assert (rule.source, rule.family, rule.table, rule.chain, rule.position) == (
        "nft.json", "inet", "filter", "input", 1)
    assert (rule.target, rule.packets, rule.bytes) == ("accept", 3, 180)
    assert ParsedChain.objects.get().policy == "drop"


def test_nft_json_is_kept_with_a_warning_without_a_parser(
        agent: AgentClient, node_01: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rule_dumps, "nft_parser", lambda: None)

    response = agent.send(SNAPSHOTS, snapshot_body({"nft.json": NFT_JSON}))

    assert response.status_code == 201
    assert "no nft JSON parser" in response.json()["warnings"][0]["message"]
    assert Snapshot.objects.get().dumps["nft.json"] == NFT_JSON
    assert not ParsedRule.objects.exists()


def test_analysis_is_requested_only_after_commit(
        agent: AgentClient, node_01: Host,
        django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        agent.send(SNAPSHOTS, snapshot_body())

    assert [getattr(c, "__qualname__", "") for c in callbacks] == [
        "ingest_snapshot.<locals>.<lambda>"]


def test_a_heartbeat_with_the_latest_hash_is_known_and_restamps(agent: AgentClient,
                                                                node_01: Host) -> None:
    digest = agent.send(SNAPSHOTS, snapshot_body()).json()["hash"]

    response = agent.send("/api/ingest/heartbeat/", {
        "host": "node-01", "sent_at": "2026-11-26T03:10:00Z", "snapshot_hash": digest})

    assert response.json() == {"status": "ok", "known": True}
    assert Snapshot.objects.get().last_seen_at == datetime(2026, 11, 26, 3, 10, tzinfo=UTC)


def test_a_known_heartbeat_takes_three_unsorted_queries(
        agent: AgentClient, node_01: Host) -> None:
    digest = agent.send(SNAPSHOTS, snapshot_body()).json()["hash"]

    with CaptureQueriesContext(connection) as queries:
        agent.send("/api/ingest/heartbeat/", {
            "host": "node-01", "sent_at": "2026-11-26T03:10:00Z", "snapshot_hash": digest})

    # The token with its host, the snapshot re-stamped, the host's last_seen_at.
    assert len(queries) == 3
    assert not any("ORDER BY" in q["sql"] for q in queries)


def test_a_heartbeat_with_an_older_hash_is_not_known(agent: AgentClient, node_01: Host) -> None:
    old = agent.send(SNAPSHOTS, snapshot_body()).json()["hash"]
    agent.send(SNAPSHOTS, snapshot_body({"iptables-save": with_counters(IPTABLES_SAVE, 41)}))

    response = agent.send("/api/ingest/heartbeat/", {
        "host": "node-01", "sent_at": "2026-11-26T03:10:00Z", "snapshot_hash": old})

    assert response.json() == {"status": "ok", "known": False}
