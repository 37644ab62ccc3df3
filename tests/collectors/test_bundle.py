"""Bundle layout: names of time folders and flow logs, reading a bundle, writing one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.bundle import (
    BundleError,
    FlowFile,
    SnapshotFiles,
    flow_file_name,
    parse_flow_file_name,
    parse_time_folder,
    read_bundle,
    time_folder,
    write_bundle,
)

AT = datetime(2026, 11, 26, 3, 0, 5, tzinfo=UTC)


def test_a_time_folder_is_utc_with_a_fraction_only_when_there_is_one() -> None:
    assert time_folder(AT) == "2026-11-26T03:00:05Z"
    assert time_folder(AT.replace(microsecond=250000)) == "2026-11-26T03:00:05.250000Z"
    assert parse_time_folder("2026-11-26T03:00:05.250000Z", "x") == AT.replace(
        microsecond=250000)


@pytest.mark.parametrize("name", ["2026-11-26T03:00:05", "2026-11-26", "latest"])
def test_a_time_folder_without_a_utc_time_is_refused(name: str) -> None:
    with pytest.raises(BundleError, match="hosts/n/"):
        parse_time_folder(name, f"hosts/n/{name}")


@pytest.mark.parametrize(("name", "expected"), [
    ("node-01.ulogd2.json", ("node-01", "ulogd2", "json")),
    ("node-01.kernel_log.log", ("node-01", "kernel_log", "log")),
    ("node-01.log", ("node-01", "auto", "log")),
    ("db1.example.org.jsonl", ("db1.example.org", "auto", "jsonl")),
    ("db1.example.org.hubble.jsonl", ("db1.example.org", "hubble", "jsonl")),
])
def test_a_flow_log_name_says_which_host_observed_it_and_its_source(
        name: str, expected: tuple[str, str, str]) -> None:
    assert parse_flow_file_name(name, f"flows/{name}") == expected
    assert flow_file_name(*expected) == name


def test_a_flow_log_with_another_extension_is_refused() -> None:
    with pytest.raises(BundleError, match="flows/node-01.txt"):
        parse_flow_file_name("node-01.txt", "flows/node-01.txt")


def test_what_is_written_reads_back_the_same(tmp_path: Path) -> None:
    snapshot = SnapshotFiles("node-01", AT, {"iptables-save": "*filter\nCOMMIT\n",
                                             "conntrack.txt": ""})
    flows = FlowFile("node-01", "kernel_log", "kernel: x IN=eth0 OUT= SRC=1.2.3.4\n")
    written = write_bundle(tmp_path / "b", snapshots=[snapshot], flows=[flows])

    bundle = read_bundle(tmp_path / "b")

    assert written == ["flows/node-01.kernel_log.log",
                       "hosts/node-01/2026-11-26T03:00:05Z/conntrack.txt",
                       "hosts/node-01/2026-11-26T03:00:05Z/iptables-save"]
    assert bundle.snapshots == (snapshot,)
    assert bundle.flows == (flows,)
    assert bundle.hosts == {"node-01"}


def test_writing_into_a_directory_that_holds_files_is_refused_and_leaves_it_alone(
        tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "keep").write_text("mine")

    with pytest.raises(BundleError, match="not an empty directory"):
        write_bundle(tmp_path / "b", inventory_text="hosts: []\n")

    assert [p.name for p in (tmp_path / "b").iterdir()] == ["keep"]
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


def test_a_snapshot_folder_keeps_every_visible_file_as_a_dump(tmp_path: Path) -> None:
    folder = tmp_path / "hosts" / "node-01" / "2026-11-26T03:00:05Z"
    folder.mkdir(parents=True)
    (folder / "iptables-save").write_text("*filter\nCOMMIT\n")
    (folder / "ebtables.txt").write_text("x\n")
    (folder / ".swp").write_text("")

    (snapshot,) = read_bundle(tmp_path).snapshots

    assert sorted(snapshot.dumps) == ["ebtables.txt", "iptables-save"]


def test_a_folder_inside_a_snapshot_folder_is_named(tmp_path: Path) -> None:
    (tmp_path / "hosts" / "node-01" / "2026-11-26T03:00:05Z" / "old").mkdir(parents=True)

    with pytest.raises(BundleError, match="2026-11-26T03:00:05Z/old: a snapshot folder holds"):
        read_bundle(tmp_path)


def test_an_inventory_error_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "inventory.yaml").write_text("workloads:\n  - {name: a}\n")

    with pytest.raises(BundleError, match=r"^inventory.yaml: workloads\[0\].host: "):
        read_bundle(tmp_path)


def test_an_intent_error_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "intent.yaml").write_text("segments: {a: {app: a}}\nallow:\n"
                                          "  - {from: a, to: b, ports: [tcp/1]}\n")

    with pytest.raises(BundleError, match=r"^intent.yaml: allow\[0\].to: unknown segment"):
        read_bundle(tmp_path)
