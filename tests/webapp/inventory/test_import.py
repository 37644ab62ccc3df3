"""Importing inventories: idempotent, stopping instead of deleting, history kept per container."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from collectors.inventory import parse_inventory
from webapp.inventory.models import Host, Workload
from webapp.inventory.services import ImportSummary, apply_inventory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)

FLEET = """\
hosts:
  - {name: node-01, addresses: [192.0.2.11], labels: {zone: a}}
  - {name: node-02, addresses: [192.0.2.12], labels: {zone: b}}
workloads:
  - {name: payments-7f9c, host: node-01, addresses: [10.1.0.5], interface: cali1a2b3c,
     labels: {app: payments, env: prod}, started_at: 2026-11-26T03:00:00Z}
  - {name: ledger-0, host: node-02, addresses: [10.1.0.9], labels: {app: ledger, env: prod},
     started_at: 2026-11-26T03:00:00Z}
"""


def _import(text: str, *, now: datetime = T0 + timedelta(hours=1), **kwargs: str) -> ImportSummary:
    return apply_inventory(parse_inventory(text, "inventory.yaml", **kwargs), now=now)


def _rows() -> list[tuple[object, ...]]:
    return list(Workload.objects.order_by("id").values_list(
        "id", "host__name", "name", "addresses", "attachment", "interface", "labels",
        "started_at", "stopped_at"))


def test_it_creates_hosts_and_workloads_from_an_inventory() -> None:
    summary = _import(FLEET)

    assert (summary.hosts_created, summary.workloads_created) == (2, 2)
    node_01 = Host.objects.get(name="node-01")
    assert (node_01.addresses, node_01.labels) == (["192.0.2.11"], {"zone": "a"})
    payments = Workload.objects.get(name="payments-7f9c")
    assert payments.host == node_01
    assert payments.labels == {"app": "payments", "env": "prod"}
    assert (payments.started_at, payments.stopped_at) == (T0, None)


def test_importing_the_same_inventory_again_changes_nothing() -> None:
    _import(FLEET)
    before = _rows()

    summary = _import(FLEET, now=T0 + timedelta(hours=2))

    assert not summary.changed
    assert summary.workloads_unchanged == 2
    assert _rows() == before


def test_a_workload_missing_from_a_full_import_is_stopped_not_deleted() -> None:
    _import(FLEET)
    later = T0 + timedelta(hours=3)

    summary = _import(FLEET.replace("  - {name: ledger-0", "  - {name: ledger-1"), now=later)

    assert summary.workloads_stopped == 1
    ledger_0 = Workload.objects.get(name="ledger-0")
    assert ledger_0.stopped_at == later
    assert Workload.objects.filter(name="ledger-1", stopped_at__isnull=True).exists()


def test_stopping_is_also_idempotent() -> None:
    _import(FLEET)
    shrunk = FLEET.split("  - {name: ledger-0")[0]
    _import(shrunk, now=T0 + timedelta(hours=3))
    before = _rows()

    summary = _import(shrunk, now=T0 + timedelta(hours=4))

    assert not summary.changed
    assert _rows() == before


def test_a_name_that_comes_back_with_a_new_start_is_a_new_row() -> None:
    _import(FLEET)
    restarted = FLEET.replace(
        "labels: {app: payments, env: prod}, started_at: 2026-11-26T03:00:00Z",
        "labels: {app: payments, env: prod}, started_at: 2026-11-26T03:30:00Z")

    summary = _import(restarted)

    assert (summary.workloads_created, summary.workloads_stopped) == (1, 1)
    old, new = Workload.objects.filter(name="payments-7f9c").order_by("started_at")
    assert (old.started_at, old.stopped_at) == (T0, T0 + timedelta(minutes=30))
    assert (new.started_at, new.stopped_at) == (T0 + timedelta(minutes=30), None)


def test_a_stopped_container_seen_again_is_reopened_not_duplicated() -> None:
    _import(FLEET)
    _import(FLEET.split("  - {name: ledger-0")[0], now=T0 + timedelta(hours=3))

    summary = _import(FLEET, now=T0 + timedelta(hours=4))

    assert summary.workloads_created == 0
    ledger = Workload.objects.get(name="ledger-0")
    assert ledger.stopped_at is None


def test_a_changed_label_updates_the_running_row() -> None:
    _import(FLEET)
    ids = {w.name: w.pk for w in Workload.objects.all()}

    summary = _import(FLEET.replace("{app: ledger, env: prod}", "{app: ledger, env: staging}"))

    assert summary.workloads_updated == 1
    assert Workload.objects.get(pk=ids["ledger-0"]).labels == {"app": "ledger", "env": "staging"}


def test_a_workload_without_a_start_time_keeps_its_row() -> None:
    text = "workloads:\n  - {name: cron, host: node-01, labels: {app: cron}}\n"
    _import(text, now=T0)
    before = _rows()

    summary = _import(text, now=T0 + timedelta(hours=5))

    assert not summary.changed
    assert _rows() == before
    assert before[0][7] == T0  # started when first seen


def test_a_new_workload_without_a_start_time_starts_at_the_given_default() -> None:
    text = "workloads:\n  - {name: cron, host: node-01, labels: {app: cron}}\n"

    apply_inventory(parse_inventory(text, "inventory.yaml"), now=T0 + timedelta(hours=5),
                    started_default=T0)

    assert Workload.objects.get().started_at == T0


def test_a_listed_stop_ends_the_running_row_of_that_container() -> None:
    _import(FLEET)
    stop = T0 + timedelta(minutes=45)
    ended = FLEET.replace("env: prod},\n     started_at: 2026-11-26T03:00:00Z}",
                          "env: prod},\n     started_at: 2026-11-26T03:00:00Z, "
                          "stopped_at: 2026-11-26T03:45:00Z}")
    assert ended.count("stopped_at") == 1

    summary = _import(ended)
    again = _import(ended, now=T0 + timedelta(hours=2))

    assert (summary.workloads_stopped, summary.workloads_created) == (1, 0)
    assert Workload.objects.get(name="ledger-0").stopped_at == stop
    assert not again.changed


def test_a_workload_first_seen_stopped_is_stored_stopped_once() -> None:
    text = ("workloads:\n  - {name: job, host: node-01, stopped_at: 2026-11-26T02:00:00Z}\n")

    first = apply_inventory(parse_inventory(text, "inventory.yaml"), now=T0,
                            started_default=T0 - timedelta(hours=2))
    again = apply_inventory(parse_inventory(text, "inventory.yaml"), now=T0,
                            started_default=T0 - timedelta(hours=2))

    job = Workload.objects.get()
    assert (job.started_at, job.stopped_at) == (T0 - timedelta(hours=2), T0 - timedelta(hours=1))
    assert first.workloads_created == 1 and not again.changed


def test_an_import_leaves_hosts_outside_its_scope_alone() -> None:
    _import(FLEET)
    docker = [{"Name": "/web-1", "State": {"Running": True, "StartedAt": "2026-11-26T04:00:00Z"},
               "Config": {"Labels": {"app": "web"}}, "HostConfig": {"NetworkMode": "default"},
               "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}}}]

    summary = _import(json.dumps(docker), host="node-01")

    # payments-7f9c on node-01 is not in the docker output: stopped. ledger-0 on node-02 stays.
    assert (summary.workloads_created, summary.workloads_stopped) == (1, 1)
    assert Workload.objects.get(name="ledger-0").stopped_at is None
    assert Workload.objects.get(name="payments-7f9c").stopped_at is not None


def test_a_hosts_only_file_updates_hosts_and_stops_nothing() -> None:
    _import(FLEET)

    summary = _import("hosts:\n  - {name: node-01, addresses: [192.0.2.99]}\n")

    assert (summary.hosts_updated, summary.workloads_stopped) == (1, 0)
    assert Host.objects.get(name="node-01").addresses == ["192.0.2.99"]


def test_import_inventory_prints_what_it_changed(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(FLEET)

    call_command("import_inventory", str(path))

    out = capsys.readouterr().out
    assert "hosts 2 created" in out
    assert "workloads 2 created" in out
    assert Workload.objects.count() == 2


def test_import_inventory_names_the_file_and_field_of_an_error(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("workloads:\n  - {name: w, host: h, addresses: [nope]}\n")

    with pytest.raises(CommandError, match=r"inventory.yaml: workloads\[0\].addresses\[0\]"):
        call_command("import_inventory", str(path))
    assert not Host.objects.exists()
