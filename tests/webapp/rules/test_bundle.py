"""Offline bundles: `manage.py ingest` and `manage.py export_bundle`, through the services."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from collectors.bundle import BundleError
from tests.webapp.rules.dumps import BROKEN_IPTABLES_SAVE, IPSET_SAVE, IPTABLES_SAVE, with_counters
from webapp.flows.models import FlowBatch, FlowRecord
from webapp.inventory.models import Host, Workload
from webapp.rules.bundle import BundleRejected, export_bundle, ingest_bundle
from webapp.rules.models import ParsedRule, RejectedUpload, Snapshot

pytestmark = pytest.mark.django_db

REPO_ROOT = Path(__file__).resolve().parents[3]

INVENTORY = """\
hosts:
  - {name: node-01, addresses: [10.255.0.1], labels: {zone: a}}
  - {name: node-02, addresses: [10.255.0.2], labels: {zone: b}}
workloads:
  - {name: payments-7f9c, host: node-01, addresses: [10.1.0.1], attachment: bridged,
     interface: cali1a2b3c4d, labels: {app: payments, env: prod},
     started_at: 2026-11-26T02:00:00Z}
  - {name: ledger-0b1e, host: node-02, addresses: [10.2.0.1], attachment: bridged,
     interface: cali5e6f7a8b, labels: {app: ledger, env: prod},
     started_at: 2026-11-26T02:30:00Z}
"""
INTENT = """\
segments:
  payments: {app: payments}
  ledger: {app: ledger, env: prod}
allow:
  - {from: payments, to: ledger, ports: [tcp/5432]}
default: deny
"""


def ulogd_line(src: str, dst: str, dport: int, at: int, workload: str) -> str:
    """One NFLOG packet as ulogd2's JSON output writes it (trimmed to what Segscope reads)."""
    return json.dumps({
        "timestamp": "2026-11-26T03:00:10.000000", "dvc": "Netfilter", "raw.pktlen": 60,
        "raw.pktcount": 1, "oob.prefix": f"segscope-drop {workload}", "oob.time.sec": at,
        "oob.time.usec": 0, "oob.hook": 2, "ip.protocol": 6, "src_port": 40000,
        "dest_port": dport, "oob.in": "eth0", "oob.out": "cali5e6f7a8b", "src_ip": src,
        "dest_ip": dst}) + "\n"


DROPS = (ulogd_line("10.1.0.1", "10.2.0.1", 22, 1795662010, "ledger-0b1e")
         + ulogd_line("10.1.0.1", "10.2.0.1", 22, 1795662011, "ledger-0b1e"))


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """Two hosts, node-01 with two snapshots (its counters moved), node-02's drops."""
    return write(tmp_path / "bundle", {
        "inventory.yaml": INVENTORY,
        "intent/v1.yaml": INTENT,
        "hosts/node-01/2026-11-26T03:00:05Z/iptables-save": IPTABLES_SAVE,
        "hosts/node-01/2026-11-26T03:00:05Z/ipset-save": IPSET_SAVE,
        "hosts/node-01/2026-11-26T03:05:05Z/iptables-save": with_counters(IPTABLES_SAVE, 90),
        "hosts/node-01/2026-11-26T03:05:05Z/ipset-save": IPSET_SAVE,
        "hosts/node-02/2026-11-26T03:00:06Z/iptables-save": IPTABLES_SAVE,
        "flows/node-02.ulogd2.json": DROPS,
    })


def state() -> dict[str, Any]:
    """What the database holds, in terms that survive a round trip (no ids)."""
    return {
        "snapshots": sorted((s.host.name, s.collected_at, s.content_hash)
                            for s in Snapshot.objects.select_related("host")),
        "workloads": sorted(
            (w.host.name, w.name, tuple(w.addresses), w.interface, w.attachment,
             tuple(sorted(w.labels.items())), w.started_at)
            for w in Workload.objects.filter(stopped_at__isnull=True).select_related("host")),
        "flows": sorted((f.host.name, f.bucket_start, f.src, f.dst, f.proto, f.dport, f.packets,
                         f.bytes, f.verdict, f.rule_ref)
                        for f in FlowRecord.objects.select_related("host")),
    }


def wipe() -> None:
    Host.objects.all().delete()  # cascades to workloads, snapshots, flows


def test_it_ingests_inventory_snapshots_and_flows_through_the_services(bundle: Path) -> None:
    summary = ingest_bundle(bundle)

    assert (summary.snapshots_created, summary.flow_batches_created) == (3, 1)
    assert summary.intents == ["v1"]
    node_01 = Host.objects.get(name="node-01")
    assert node_01.last_snapshot is not None
    assert node_01.last_snapshot.collected_at == datetime(2026, 11, 26, 3, 5, 5, tzinfo=UTC)
    assert ParsedRule.objects.filter(snapshot=node_01.last_snapshot, packets=90).exists()
    assert Workload.objects.get(name="ledger-0b1e").interface == "cali5e6f7a8b"
    drop = FlowRecord.objects.get()
    assert (drop.host.name, drop.src, drop.dst, drop.dport, drop.packets) == (
        "node-02", "10.1.0.1", "10.2.0.1", 22, 2)
    assert (drop.verdict, drop.rule_ref) == ("DROP", "segscope-drop ledger-0b1e")


def test_ingesting_the_same_bundle_twice_changes_nothing(bundle: Path) -> None:
    ingest_bundle(bundle)
    before = state()

    again = ingest_bundle(bundle)

    assert not again.changed
    assert (again.snapshots_known, again.flow_batches_known) == (3, 1)
    assert state() == before
    assert FlowBatch.objects.count() == 1


def test_a_dump_that_cannot_be_parsed_is_named_with_its_line_and_nothing_is_applied(
        bundle: Path) -> None:
    write(bundle, {"hosts/node-02/2026-11-26T03:10:00Z/iptables-save": BROKEN_IPTABLES_SAVE})

    with pytest.raises(BundleRejected) as caught:
        ingest_bundle(bundle)

    assert caught.value.file == "hosts/node-02/2026-11-26T03:10:00Z/iptables-save"
    assert caught.value.line == 7
    assert not Host.objects.exists()
    assert not Snapshot.objects.exists()
    assert not RejectedUpload.objects.exists()


def test_a_snapshot_folder_must_be_named_by_a_utc_time(bundle: Path) -> None:
    write(bundle, {"hosts/node-02/yesterday/iptables-save": IPTABLES_SAVE})

    with pytest.raises(BundleError, match="hosts/node-02/yesterday: a snapshot folder is named"):
        ingest_bundle(bundle)


def test_an_intent_with_a_yaml_error_is_named_with_its_line(bundle: Path) -> None:
    write(bundle, {"intent/v2.yaml": "segments:\n  web: {app: web\nallow: []\n"})

    with pytest.raises(BundleError) as caught:
        ingest_bundle(bundle)

    assert (caught.value.file, caught.value.line) == ("intent/v2.yaml", 3)
    assert not Host.objects.exists()


def test_a_flow_log_in_no_known_format_is_named_and_nothing_is_applied(bundle: Path) -> None:
    write(bundle, {"flows/node-01.log": "hello\nworld\n"})

    with pytest.raises(BundleRejected, match=r"^flows/node-01.log:1: "):
        ingest_bundle(bundle)
    assert not Snapshot.objects.exists()


def test_export_then_ingest_into_a_fresh_database_gives_the_same_fleet(bundle: Path,
                                                                       tmp_path: Path) -> None:
    ingest_bundle(bundle)
    original = state()

    export_bundle(tmp_path / "export", datetime(2026, 11, 26, 4, 0, tzinfo=UTC), history=True)
    wipe()
    ingest_bundle(tmp_path / "export")

    assert state() == original


def test_an_export_holds_each_hosts_latest_snapshot_at_or_before_its_time(
        bundle: Path, tmp_path: Path) -> None:
    ingest_bundle(bundle)
    expected = {h.name: h.last_snapshot.content_hash  # type: ignore[union-attr]
                for h in Host.objects.select_related("last_snapshot")}

    export_bundle(tmp_path / "export", datetime(2026, 11, 26, 3, 5, 5, tzinfo=UTC))
    wipe()
    ingest_bundle(tmp_path / "export")

    assert sorted(p.name for p in (tmp_path / "export/hosts/node-01").iterdir()) == [
        "2026-11-26T03:05:05Z"]
    assert dict(Snapshot.objects.values_list("host__name", "content_hash")) == expected


def test_an_export_leaves_out_what_came_after_its_time(bundle: Path, tmp_path: Path) -> None:
    ingest_bundle(bundle)

    summary = export_bundle(tmp_path / "export", datetime(2026, 11, 26, 2, 15, tzinfo=UTC))

    assert (summary.snapshots, summary.flow_records, summary.workloads) == (0, 0, 1)
    inventory = (tmp_path / "export/inventory.yaml").read_text()
    assert "payments-7f9c" in inventory and "ledger-0b1e" not in inventory


def test_export_refuses_a_directory_that_holds_files(bundle: Path) -> None:
    with pytest.raises(BundleError, match="not an empty directory"):
        export_bundle(bundle, datetime(2026, 11, 26, tzinfo=UTC))


def test_the_ingest_command_reports_what_it_did_and_fails_with_file_and_line(
        bundle: Path) -> None:
    out = StringIO()
    call_command("ingest", str(bundle), stdout=out)
    assert "snapshots: 3 created, 0 already known" in out.getvalue()

    write(bundle, {"hosts/node-02/2026-11-26T03:10:00Z/iptables-save": BROKEN_IPTABLES_SAVE})
    with pytest.raises(CommandError, match=r"2026-11-26T03:10:00Z/iptables-save:7: "):
        call_command("ingest", str(bundle))


def test_the_export_command_takes_a_time_with_a_zone(bundle: Path, tmp_path: Path) -> None:
    call_command("ingest", str(bundle), stdout=StringIO())
    out = StringIO()

    call_command("export_bundle", str(tmp_path / "export"), "--at", "2026-11-26T04:00:00Z",
                 stdout=out)

    assert "2 hosts, 2 workloads, 2 snapshots, 1 flow records" in out.getvalue()
    with pytest.raises(CommandError, match="no time zone"):
        call_command("export_bundle", str(tmp_path / "other"), "--at", "2026-11-26T04:00:00")


def test_the_recorded_demo_shows_hosts_rule_counters_and_a_straggler_s_drops(
        client_logged_in: Client) -> None:
    summary = ingest_bundle(REPO_ROOT / "fixtures" / "demo")

    assert summary.intents == ["v1", "v2"]
    assert (summary.snapshots_created, summary.flow_batches_created) == (6, 3)
    start = client_logged_in.get("/").content.decode()
    assert all(f"node-0{i}" in start for i in (1, 2, 3))
    assert "segscope-drop cache-" in start
    host = client_logged_in.get("/hosts/node-03/").content.decode()
    assert "seg-in-cali" in host and "--match-set seg-payments src" in host
    counted = ParsedRule.objects.filter(snapshot__host__name="node-03", chain__startswith="seg-in-",
                                        target="DROP", packets__gt=0)
    assert counted.exists()
    # node-03 missed v2: web's connection to its cache on tcp/6379 was dropped there.
    web = Workload.objects.filter(labels__app="web").values_list("addresses", flat=True)
    cache = Workload.objects.get(host__name="node-03", labels__app="cache")
    assert FlowRecord.objects.filter(host__name="node-03", dst=cache.addresses[0], dport=6379,
                                     verdict="DROP", src__in=[a[0] for a in web]).exists()


def test_a_dump_nothing_parses_is_kept_with_a_warning_and_exported_again(
        bundle: Path, tmp_path: Path) -> None:
    write(bundle, {"hosts/node-02/2026-11-26T03:10:00Z/ebtables.txt": "*filter\n"})

    summary = ingest_bundle(bundle)
    export_bundle(tmp_path / "export", datetime(2026, 11, 26, 4, 0, tzinfo=UTC), history=True)

    assert summary.warnings == ["hosts/node-02/2026-11-26T03:10:00Z/ebtables.txt:0: unknown dump "
                                "'ebtables.txt': stored, not parsed"]
    assert (tmp_path / "export/hosts/node-02/2026-11-26T03:10:00Z/ebtables.txt").read_text() == (
        "*filter\n")
