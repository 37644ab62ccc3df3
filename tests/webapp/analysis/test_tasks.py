"""Analysis tasks: claims of the dirty flag, idempotency, progress, and who becomes due."""

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError
from django.db.models import F
from pytest_django import DjangoCaptureOnCommitCallbacks

from collectors.inventory import parse_inventory
from webapp.analysis import partitions
from webapp.analysis.models import AnalysisState, DriftFinding, GenerationResult, GraphEdge
from webapp.analysis.partitions import claim_host, mark_hosts_due
from webapp.analysis.tasks import (
    analyse_host_task,
    compute_convergence_task,
    sweep_due_analyses_task,
)
from webapp.inventory.models import Host
from webapp.inventory.services import apply_inventory
from webapp.rules.services import ingest_snapshot

pytestmark = pytest.mark.django_db


def _node(name: str) -> Host:
    return Host.objects.get(name=name)


def test_it_stores_a_host_partition_once_when_run_twice(demo: Path) -> None:
    node_02 = _node("node-02")

    first = analyse_host_task.apply(args=[node_02.pk]).get()
    edges = list(GraphEdge.objects.filter(host=node_02).values_list("id", flat=True))
    mark_hosts_due([node_02.pk])
    second = analyse_host_task.apply(args=[node_02.pk]).get()

    assert (first, second) == ("stored", "unchanged")
    assert edges and list(GraphEdge.objects.filter(host=node_02).values_list(
        "id", flat=True)) == edges
    state = AnalysisState.objects.get(host=node_02)
    assert (state.status, state.done, state.total) == ("done", 4, 4)
    assert _node("node-02").analysis_due_at is None


def test_it_does_nothing_for_a_host_that_is_not_due(demo: Path) -> None:
    node_01 = _node("node-01")
    Host.objects.update(analysis_due_at=None)

    assert analyse_host_task.apply(args=[node_01.pk]).get() == "not-due"
    assert not GraphEdge.objects.exists()


def test_only_one_claim_of_a_flag_wins(demo: Path) -> None:
    node_01 = _node("node-01")

    first, second = claim_host(node_01.pk), claim_host(node_01.pk)

    assert first is not None and second is None


def test_a_partition_holds_the_edges_into_its_host_and_the_findings_naming_it(
        demo: Path) -> None:
    sweep_due_analyses_task.apply()

    for host in Host.objects.all():
        names = set(host.workloads.values_list("name", flat=True))
        assert set(GraphEdge.objects.filter(host=host).values_list("dst", flat=True)) <= names
        assert set(DriftFinding.objects.filter(host=host).values_list(
            "host_name", flat=True)) <= {host.name}
        assert all(host.name in e.snapshots for e in GraphEdge.objects.filter(host=host))


def test_the_partitions_together_are_the_fleets_graph_and_drift(demo: Path) -> None:
    sweep_due_analyses_task.apply()
    partitions._LAST_GRAPH.clear()
    partitions._RESULTS.clear()
    whole = partitions.fleet_result()

    def rows(items: Any) -> list[str]:
        return sorted(json.dumps(item, sort_keys=True, default=str) for item in items)

    assert rows(GraphEdge.objects.values_list("src", "dst", "allowed", "evidence")) == rows(
        (e["src"], e["dst"], e["allowed"], e["evidence"]) for e in whole.edges)
    stored = rows(DriftFinding.objects.values_list("kind", "host_name", "rule", "workloads"))
    assert stored == rows((f["kind"], f["host"], f["rule"], f["workloads"])
                          for f in whole.findings)
    assert len(stored) > 0


def test_a_failed_analysis_sets_the_flag_again(demo: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    node_03 = _node("node-03")

    def broken(*args: object) -> None:
        raise OperationalError("connection lost")

    monkeypatch.setattr(partitions, "fleet_result", broken)
    monkeypatch.setattr(analyse_host_task, "max_retries", 0)
    with pytest.raises(OperationalError):
        analyse_host_task.apply(args=[node_03.pk]).get()

    assert _node("node-03").analysis_due_at is not None
    assert AnalysisState.objects.get(host=node_03).status == "failed"


def test_a_new_intent_version_marks_the_fleet_due(demo: Path) -> None:
    from webapp.policy.services import store_intent

    sweep_due_analyses_task.apply()
    Host.objects.update(analysis_due_at=None)  # what the sweep's analyses leave

    store_intent("v3", (demo / "intent" / "v1.yaml").read_text().replace(
        "published_at: 2026-11-26T04:59:27Z\n", ""))

    assert not Host.objects.filter(analysis_due_at__isnull=True).exists()


def test_a_stopped_workload_has_the_fleet_analysed_again_once_the_import_commits(
        demo: Path, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks) -> None:
    sweep_due_analyses_task.apply()
    Host.objects.update(analysis_due_at=None)
    text = (demo / "inventory.yaml").read_text()
    stopped = "\n".join(line for line in text.splitlines() if "cache-6467" not in line)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        apply_inventory(parse_inventory(stopped, "inventory.yaml"))

    # The signal, then the sweep it asked for (inline here); live events aside.
    assert len([c for c in callbacks if c.__module__ != "webapp.live.broadcast"]) == 2
    assert GraphEdge.objects.exists()
    assert not GraphEdge.objects.filter(src="cache-6467").exists()
    assert not GraphEdge.objects.filter(dst="cache-6467").exists()


def test_convergence_is_stored_once_per_history(demo: Path) -> None:
    first = compute_convergence_task.apply().get()
    ids = list(GenerationResult.objects.values_list("id", flat=True))

    second = compute_convergence_task.apply().get()

    assert (first, second) == (True, False)
    assert ids and list(GenerationResult.objects.values_list("id", flat=True)) == ids


def test_a_new_snapshot_updates_the_previous_graph_and_agrees_with_a_fresh_one(
        demo: Path) -> None:
    from datetime import UTC, datetime

    from webapp.rules.services import ingest_snapshot

    partitions._LAST_GRAPH.clear()
    partitions._RESULTS.clear()
    first = partitions.fleet_result()
    graph = partitions._LAST_GRAPH[0][1]
    edges_before = len(first.edges)  # the result reads the graph, which is updated in place
    hosts = sorted(Host.objects.values_list("name", flat=True))
    findings_before = {h: first.findings_of(h) for h in hosts}  # builds the drift indexes
    node_03 = _node("node-03")
    dumps = dict(node_03.last_snapshot.dumps)
    # node-03 finally gets v2's web -> cache allow: its cache chain accepts web on 6379.
    chain = "seg-in-califc1d8994"
    dumps["iptables-save"] = dumps["iptables-save"].replace(
        f"-A {chain} -j NFLOG",
        f"-A {chain} -p tcp -m tcp --dport 6379 -m set --match-set seg-web src -j ACCEPT\n"
        f"-A {chain} -j NFLOG", 1)
    dumps["ipset-save"] += "".join(f"add seg-web {a}\n" for a in ("10.1.0.3", "10.2.0.2",
                                                                 "10.3.0.1"))
    if "create seg-web " not in dumps["ipset-save"]:
        dumps["ipset-save"] = ("create seg-web hash:ip family inet hashsize 1024 maxelem 65536\n"
                               + dumps["ipset-save"])
    ingest_snapshot(node_03, datetime(2026, 11, 26, 5, 0, tzinfo=UTC), dumps, {})

    updated = partitions.fleet_result()

    assert partitions._LAST_GRAPH[0][1] is graph  # updated in place, not computed again
    assert len(updated.edges) == edges_before + 3
    per_host = {h: updated.findings_of(h) for h in hosts}  # with the earlier drift indexes
    assert per_host != findings_before
    # The control plane's rules read the intent and the workloads only: rendered once.
    assert updated.analysis._drift is not None and first.analysis._drift is not None
    assert updated.analysis._drift[1].managed_rules is first.analysis._drift[1].managed_rules
    partitions._LAST_GRAPH.clear()
    partitions._RESULTS.clear()
    fresh = partitions.fleet_result()
    assert fresh.edges == updated.edges and fresh.findings == updated.findings
    assert {h: fresh.findings_of(h) for h in hosts} == per_host


def test_a_hosts_first_snapshot_updates_the_previous_graph_and_agrees_with_a_fresh_one(
        demo: Path) -> None:
    from webapp.rules.models import Snapshot

    node_03 = _node("node-03")
    newest = node_03.last_snapshot
    assert newest is not None
    dumps, collected_at = dict(newest.dumps), newest.collected_at
    Snapshot.objects.filter(host=node_03).delete()  # as before its agent's first round
    partitions._LAST_GRAPH.clear()
    partitions._RESULTS.clear()
    without = partitions.fleet_result()
    graph = partitions._LAST_GRAPH[0][1]
    edges_without = len(without.edges)
    # A host that has sent nothing yet lets nothing through: none of its workloads' pairs.
    silent = set(Host.objects.get(pk=node_03.pk).workloads.values_list("name", flat=True))
    assert silent and not [e for e in without.edges if {e["src"], e["dst"]} & silent]
    ingest_snapshot(Host.objects.get(pk=node_03.pk), collected_at, dumps, {})

    updated = partitions.fleet_result()

    assert partitions._LAST_GRAPH[0][1] is graph  # updated in place, not computed again
    assert len(updated.edges) > edges_without
    hosts = sorted(Host.objects.values_list("name", flat=True))
    per_host = {h: (updated.edges_into(h), updated.findings_of(h)) for h in hosts}
    partitions._LAST_GRAPH.clear()
    partitions._RESULTS.clear()
    fresh = partitions.fleet_result()
    assert {h: (fresh.edges_into(h), fresh.findings_of(h)) for h in hosts} == per_host


def _graph_then_node_02_edited() -> object:
    """The graph computed afresh; then node-02 sends a new snapshot."""
    partitions._LAST_GRAPH.clear()
    partitions._RESULTS.clear()
    partitions.fleet_result()
    graph = partitions._LAST_GRAPH[0][1]
    node_02 = _node("node-02")
    dumps = dict(node_02.last_snapshot.dumps)
    dumps["iptables-save"] = dumps["iptables-save"].replace("COMMIT", "# edited\nCOMMIT", 1)
    ingest_snapshot(node_02, node_02.last_snapshot.collected_at + timedelta(minutes=1), dumps,
                    {})
    return graph


def test_up_to_half_the_fleet_changed_is_updated_not_computed_again(
        demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A lower share fed itself under load: a full computation took long enough for the next
    # batch to find as many hosts changed again.
    monkeypatch.setattr(partitions, "UPDATE_HOSTS", 0)  # only the share counts
    graph = _graph_then_node_02_edited()

    partitions.fleet_result()  # one host of three changed

    assert partitions._LAST_GRAPH[0][1] is graph


def test_more_changed_hosts_than_are_updated_compute_the_graph_afresh(
        demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(partitions, "UPDATE_HOSTS", 0)  # any changed host is one too many
    monkeypatch.setattr(partitions, "UPDATE_SHARE", 0.0)
    graph = _graph_then_node_02_edited()

    updated = partitions.fleet_result()

    assert partitions._LAST_GRAPH[0][1] is not graph
    assert updated.inputs.digest == partitions.fleet_inputs().digest
    edges = updated.edges
    partitions._LAST_GRAPH.clear()
    partitions._RESULTS.clear()
    assert partitions.fleet_result().edges == edges


def _every_partition(result: partitions.FleetResult) -> dict[str, list[dict[str, Any]]]:
    return {host.name: result.edges_into(host.name) for host in Host.objects.order_by("name")}


def test_evidence_is_carried_to_the_updated_graph_and_worked_out_again_where_it_changed(
        demo: Path) -> None:
    partitions._LAST_GRAPH.clear()
    partitions._RESULTS.clear()
    first = partitions.fleet_result()
    before = _every_partition(first)
    node_02 = _node("node-02")
    dumps = dict(node_02.last_snapshot.dumps)
    # A rule ahead of the others: every later line, and so node-02's evidence, moves down.
    dumps["iptables-save"] = dumps["iptables-save"].replace(
        "-A FORWARD", "-A FORWARD -s 192.0.2.1/32 -p tcp -m tcp --dport 1 -j ACCEPT\n"
        "-A FORWARD", 1)
    ingest_snapshot(node_02, node_02.last_snapshot.collected_at + timedelta(minutes=1), dumps,
                    {})

    updated = partitions.fleet_result()
    after = _every_partition(updated)

    assert partitions._LAST_GRAPH[0][1] is first.analysis.graph  # updated, not recomputed
    assert updated._sides is first._sides  # the evidence of unchanged hosts carried over
    assert after["node-02"] != before["node-02"]
    partitions._LAST_GRAPH.clear()
    partitions._RESULTS.clear()
    assert after == _every_partition(partitions.fleet_result())  # as a fresh computation


def test_a_hosts_exchange_is_the_hash_of_its_crossing_pairs_json(demo: Path) -> None:
    import hashlib

    # Stored hashes are compared with new ones: the text hashed must stay this one.
    result = partitions.fleet_result()
    graph = result.analysis.graph
    where = {w.name: w.host for w in graph.fleet.workloads}
    crossed = 0
    for host in Host.objects.values_list("name", flat=True):
        crossing = sorted([src, dst, pair.allowed.texts()]
                          for (src, dst), pair in graph.pairs.items()
                          if (where[src] == host) != (where[dst] == host))
        peers = {where[dst] if where[src] == host else where[src] for src, dst, _ in crossing}
        crossed += len(crossing)

        digest, named = result.exchange(host)

        assert digest == hashlib.sha256(json.dumps(crossing, sort_keys=True).encode()
                                        ).hexdigest()
        assert named == peers
    assert crossed  # the demo's hosts do exchange


def test_only_hosts_a_run_flags_are_asked_for_again(demo: Path) -> None:
    from webapp.analysis.partitions import flag_hosts_due

    Host.objects.update(analysis_due_at=None)
    node_01, node_02 = _node("node-01"), _node("node-02")
    mark_hosts_due([node_01.pk])

    flagged = flag_hosts_due([node_01.pk, node_02.pk, node_02.pk])

    assert flagged == [node_02.pk]  # node-01's flag and its request were there already
    assert set(Host.objects.filter(analysis_due_at__isnull=False).values_list(
        "id", flat=True)) == {node_01.pk, node_02.pk}
    assert flag_hosts_due([node_01.pk, node_02.pk]) == []


def test_convergence_requests_queue_one_computation_until_it_starts() -> None:
    import redis
    from django.conf import settings
    from django.core.cache import cache

    from webapp.analysis.tasks import CONVERGENCE, request_convergence

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    cache.delete(CONVERGENCE.key)
    before = broker.llen("background")

    for _ in range(3):  # three analyses stored while no worker has started the computation
        request_convergence()
    queued_once = broker.llen("background") - before
    compute_convergence_task.apply()  # it starts: what is stored from now on asks again
    request_convergence()
    queued_again = broker.llen("background") - before
    broker.lpop("background", queued_again)  # no worker of a later test runs them
    cache.delete(CONVERGENCE.key)  # nor waits behind them

    assert (queued_once, queued_again) == (1, 2)


def test_a_convergence_run_waits_for_the_one_running_instead_of_computing_beside_it(
        demo: Path) -> None:
    import redis
    from celery import current_app
    from django.conf import settings
    from django.core.cache import cache

    from webapp.analysis.tasks import CONVERGENCE

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    cache.delete(CONVERGENCE.key)
    GenerationResult.objects.all().delete()
    before = broker.llen("background")
    with CONVERGENCE.alone() as first:  # another worker's computation holds the mark
        current_app.conf.task_always_eager = False  # what it asks for goes to the broker
        try:
            deferred = compute_convergence_task.apply().get()
        finally:
            current_app.conf.task_always_eager = True
        deferred_queued = broker.llen("background") - before
    stored = compute_convergence_task.apply().get()
    broker.lpop("background", broker.llen("background") - before)  # no later worker runs it

    assert first is True
    assert (deferred, deferred_queued) == (False, 1)
    assert stored is True and GenerationResult.objects.exists()


def test_a_task_analyses_the_hosts_due_by_then_on_one_fleet_state(
        demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from webapp.analysis.timeline import fleet_inputs

    partitions._LAST_GRAPH.clear()
    partitions._RESULTS.clear()
    loads = []
    real = partitions.load_database_timeline
    monkeypatch.setattr(partitions, "load_database_timeline",
                        lambda *args: loads.append(1) or real(*args))
    node_01 = _node("node-01")
    due = set(Host.objects.filter(analysis_due_at__isnull=False).values_list("id", flat=True))
    assert len(due) > 2

    assert analyse_host_task.apply(args=[node_01.pk]).get() == "stored"

    assert len(loads) == 1  # one fleet state for every host the task analysed
    assert not Host.objects.filter(analysis_due_at__isnull=False).exists()
    assert set(AnalysisState.objects.filter(inputs_hash=fleet_inputs().digest).values_list(
        "host_id", flat=True)) == due
    assert {analyse_host_task.apply(args=[h]).get() for h in due - {node_01.pk}} == {"not-due"}


def test_a_run_takes_its_host_and_at_most_so_many_others_longest_waiting_first(
        demo: Path) -> None:
    node_01, node_02, node_03 = _node("node-01"), _node("node-02"), _node("node-03")
    Host.objects.filter(pk=node_02.pk).update(analysis_due_at=F("analysis_due_at") + timedelta(
        seconds=1))  # node-03 waits longer

    outcomes = partitions.analyse_hosts(node_01.pk, others=1)

    assert [(host, outcome.status) for host, outcome in outcomes] == [
        (node_01.pk, "stored"), (node_03.pk, "stored")]
    assert _node("node-02").analysis_due_at is not None


def test_another_host_that_fails_beside_it_is_flagged_and_asked_for_again(
        demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from webapp.analysis import tasks

    node_01, node_02 = _node("node-01"), _node("node-02")
    real = partitions._analyse

    def failing_on_node_02(host_id: int, run: int, inputs: Any = None) -> Any:
        if host_id == node_02.pk:
            raise ValueError("engine failed")
        return real(host_id, run, inputs)

    monkeypatch.setattr(partitions, "_analyse", failing_on_node_02)
    asked: list[int] = []
    monkeypatch.setattr(tasks, "request_analysis", asked.append)

    assert analyse_host_task.apply(args=[node_01.pk]).get() == "stored"

    # a task is asked for: it claims the flagged host with the others due
    assert len(asked) == 1 and Host.objects.filter(pk=asked[0]).get().analysis_due_at
    assert _node("node-02").analysis_due_at is not None
    state = AnalysisState.objects.get(host=node_02)
    assert (state.status, state.error) == ("failed", "ValueError: engine failed")
    assert AnalysisState.objects.get(host=node_01).status == "done"


def test_a_hosts_drift_reads_the_flows_of_its_workloads_only(demo: Path) -> None:
    from webapp.analysis.timeline import DatabaseAnalysis, load_database_timeline
    from webapp.flows.models import FlowRecord

    analysis = DatabaseAnalysis(load_database_timeline())
    window = analysis._observed_window()
    assert window is not None
    # The demo's flow buckets moved inside the unused-rule window, with every verdict.
    FlowRecord.objects.update(bucket_start=window[0] + timedelta(seconds=1))
    for number, pk in enumerate(FlowRecord.objects.order_by("id").values_list("id", flat=True)):
        FlowRecord.objects.filter(pk=pk).update(verdict=("ACCEPT", None, "DROP")[number % 3])
    whole = list(analysis._observed())
    assert len(whole) > 10
    # What the engine reads of the same rows record by record
    assert sorted(whole) == sorted(super(DatabaseAnalysis, analysis)._observed())

    for host in Host.objects.all():
        names = frozenset(host.workloads.values_list("name", flat=True))
        mine = analysis._accepted(names)
        assert sorted(mine) == sorted(c for c in whole if c[0] in names or c[1] in names)
        assert mine


def test_a_timeline_reads_the_workloads_again_only_when_the_membership_changed(
        demo: Path) -> None:
    from webapp.analysis.timeline import fleet_inputs, load_database_timeline
    from webapp.inventory.models import Workload

    first = load_database_timeline(fleet_inputs().membership)
    again = load_database_timeline(fleet_inputs().membership)
    Workload.objects.filter(pk=Workload.objects.order_by("id").first().pk).update(
        labels={"app": "relabelled"})
    changed = load_database_timeline(fleet_inputs().membership)

    assert again.workloads is first.workloads
    assert changed.workloads is not first.workloads
    assert {"app": "relabelled"} in [dict(w.labels) for w in changed.workloads]
    assert [w.name for w in changed.workloads] == [w.name for w in first.workloads]


def test_the_sweep_asks_for_one_task_a_batch_of_due_hosts(demo: Path, settings: Any) -> None:
    import redis
    from celery import current_app

    settings.SEGSCOPE_ANALYSIS_BATCH = 2
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    due = Host.objects.filter(analysis_due_at__isnull=False).count()
    before = broker.llen("celery")
    current_app.conf.task_always_eager = False  # what it asks for goes to the broker
    try:
        assert sweep_due_analyses_task.apply().get() == due == 3
    finally:
        current_app.conf.task_always_eager = True
    queued = broker.llen("celery") - before
    broker.lpop("celery", queued)  # no worker of a later test runs them

    assert queued == 2  # each task claims its host and one more


def test_a_run_whose_host_another_claimed_takes_as_many_others(demo: Path) -> None:
    node_01, node_02, node_03 = _node("node-01"), _node("node-02"), _node("node-03")
    assert claim_host(node_01.pk) is not None  # another run's

    outcomes = partitions.analyse_hosts(node_01.pk, others=1)

    assert [(host, outcome.status) for host, outcome in outcomes] == [
        (node_01.pk, "not-due"), (node_02.pk, "stored"), (node_03.pk, "stored")]


def test_a_host_that_stops_reaching_a_peer_flags_the_peer_it_recorded(demo: Path) -> None:
    from datetime import UTC, datetime

    sweep_due_analyses_task.apply()
    node_01 = _node("node-01")
    reached = set(GraphEdge.objects.filter(src_host="node-01").exclude(host=node_01)
                  .values_list("host_id", flat=True))
    assert reached
    state = AnalysisState.objects.get(host=node_01)
    assert {_node(name).pk for name in state.peers} >= reached
    # node-01 drops everything it forwards: its workloads reach nobody, nobody reaches them.
    dumps = dict(node_01.last_snapshot.dumps)
    dumps["iptables-save"] = dumps["iptables-save"].replace(
        "-A FORWARD ", "-A FORWARD -j DROP\n-A FORWARD ", 1)
    ingest_snapshot(node_01, datetime(2026, 11, 26, 5, 0, tzinfo=UTC), dumps, {})
    Host.objects.exclude(pk=node_01.pk).update(analysis_due_at=None)

    outcome = partitions.analyse_host(node_01.pk)

    assert outcome.status == "stored"
    assert set(outcome.marked) >= reached  # their stored edges from node-01 are gone now
    assert AnalysisState.objects.get(host=node_01).peers == []
