"""The auditors' export: the same point in time gives the same bytes, verify-audit reproduces
the graph and drift from the archive alone, and tampering with any one file is caught."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from celery import current_app
from django.contrib.auth.models import AbstractBaseUser
from django.core.management import call_command
from django.test import Client

from webapp.audit.models import AuditEvent
from webapp.engine.analysis.offline import BundleAnalysis
from webapp.engine.audit.archive import MANIFEST, read_files, render_manifest, sha256_hex
from webapp.engine.audit.tables import cell, render_csv
from webapp.engine.audit.verify import verify_files
from webapp.rules.models import Snapshot

DEMO = Path(__file__).resolve().parents[3] / "fixtures" / "demo"
AT = "2026-11-26T04:59:37Z"
pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db: None) -> Iterator[Path]:
    """The recorded demo roll-out ingested (tasks inline, as a worker would run them)."""
    conf = current_app.conf
    before = conf.task_always_eager
    conf.task_always_eager = True
    call_command("ingest", str(DEMO), stdout=StringIO())
    yield DEMO
    conf.task_always_eager = before


@pytest.fixture
def archive(demo: Path, tmp_path: Path) -> Path:
    """The export at the demo's last snapshots, as the archive file."""
    target = tmp_path / "audit.tar.gz"
    call_command("export_audit", str(target), "--at", AT, stdout=StringIO())
    return target


@pytest.fixture
def files(archive: Path) -> dict[str, bytes]:
    return read_files(archive)


def test_two_exports_of_the_same_time_are_byte_identical(archive: Path, tmp_path: Path,
                                                         audrey_client: Client) -> None:
    again = tmp_path / "again.tar.gz"
    call_command("export_audit", str(again), "--at", AT, stdout=StringIO())
    served = audrey_client.get("/api/audit-export/", {"at": AT})

    assert again.read_bytes() == archive.read_bytes()
    assert served.status_code == 200
    assert served.content == archive.read_bytes()
    assert served["Content-Disposition"] == \
        'attachment; filename="segscope-audit-20261126T045937Z.tar.gz"'


def test_the_folder_and_the_archive_hold_the_same_files(archive: Path, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    call_command("export_audit", str(folder), "--at", AT, stdout=StringIO())

    assert read_files(folder) == read_files(archive)


def test_the_archive_has_relative_sorted_entries_with_fixed_times(archive: Path) -> None:
    with tarfile.open(archive) as tar:
        members = tar.getmembers()

    names = [m.name for m in members]
    assert names == sorted(names)
    assert all(n.startswith("segscope-audit-20261126T045937Z/") for n in names)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.mode) for m in members} == {
        (1795669177, 0, 0, "", 0o644)}


def test_it_holds_the_analyses_the_dumps_and_a_manifest(files: dict[str, bytes]) -> None:
    manifest = json.loads(files[MANIFEST])

    assert manifest["at"] == AT and manifest["generated_by"].startswith("segscope ")
    assert set(manifest["files"]) == set(files) - {MANIFEST}
    assert {"graph.json", "graph-segments.json", "drift.json", "convergence.json",
            "intent.json", "edges.csv", "findings.csv", "convergence.csv",
            "bundle/inventory.yaml", "bundle/intent/v1.yaml", "bundle/intent/v2.yaml",
            "bundle/hosts/node-03/2026-11-26T04:59:32Z/iptables-save",
            "bundle/hosts/node-03/2026-11-26T04:59:37Z/iptables-save"} <= set(files)
    assert json.loads(files["intent.json"])["in_force"]["version"] == "v2"


def test_the_graph_is_segscope_graphs_with_each_evidence_naming_its_snapshot(
        files: dict[str, bytes]) -> None:
    graph = json.loads(files["graph.json"])
    offline = BundleAnalysis(DEMO, BundleAnalysis(DEMO).timeline.latest).graph_json()
    stored = dict(Snapshot.objects.filter(collected_at=AT).values_list(
        "host__name", "content_hash"))

    evidence = [e for edge in graph["edges"] for e in edge["evidence"]]
    assert evidence and {e["snapshot"] for e in evidence} <= set(stored.values())
    assert all(e["snapshot"] == stored[e["host"]] for e in evidence)
    without = [{**edge, "evidence": [{k: v for k, v in e.items() if k != "snapshot"}
                                     for e in edge["evidence"]]} for edge in graph["edges"]]
    assert without == offline["edges"]


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(files: dict[str, bytes]) -> None:
    edges = files["edges.csv"].decode().splitlines()

    assert edges[0].startswith("src,dst,allowed,host,snapshot,")
    assert len(edges) > 1 and all(",=" not in line and ",@" not in line for line in edges)
    assert [cell(v) for v in ("=1+1", "+1", "-A X", "@SUM(A1)", "\t=1", "ok", None, [1, 2])] \
        == ["'=1+1", "'+1", "'-A X", "'@SUM(A1)", "'\t=1", "ok", "", "1 2"]
    assert render_csv(("text",), [{"text": '=HYPERLINK("http://x")'}]) == \
        b'text\n"\'=HYPERLINK(""http://x"")"\n'


def test_verify_audit_passes_on_a_fresh_export(archive: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from webapp.cli import main

    folder = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")

    assert main(["verify-audit", str(archive)]) == 0
    assert main(["verify-audit", str(folder)]) == 0
    assert "OK" in capsys.readouterr().out


def _every_file() -> list[str]:
    """The files of the demo's export (read without a database: the bundle's own layout)."""
    return ["manifest.json", "graph.json", "graph-segments.json", "drift.json",
            "convergence.json", "intent.json", "edges.csv", "findings.csv", "convergence.csv",
            "bundle/inventory.yaml", "bundle/intent/v1.yaml", "bundle/intent/v2.yaml",
            *sorted(f"bundle/{p.relative_to(DEMO).as_posix()}"
                    for p in (DEMO / "hosts").rglob("*") if p.is_file())]


@pytest.mark.parametrize("name", _every_file())
def test_verify_audit_names_any_one_file_changed_by_a_byte(files: dict[str, bytes],
                                                           name: str) -> None:
    data = bytearray(files[name] or b"\n")  # an empty dump (no IPv6 rules) gains a byte
    middle = len(data) // 2
    data[middle] = ord("X") if data[middle] != ord("X") else ord("Y")

    problems = verify_files({**files, name: bytes(data)})

    assert problems and name in {p.file for p in problems}


def test_verify_audit_catches_a_changed_graph_with_a_matching_manifest(
        files: dict[str, bytes]) -> None:
    graph = json.loads(files["graph.json"])
    graph["edges"][0]["allowed"].append("tcp/1-65535")
    forged = {**files, "graph.json": (json.dumps(graph, indent=2) + "\n").encode()}
    manifest = json.loads(files[MANIFEST])
    manifest["files"]["graph.json"] = sha256_hex(forged["graph.json"])
    forged[MANIFEST] = render_manifest(manifest)

    problems = verify_files(forged)

    assert [p.file for p in problems] == ["graph.json"]
    assert "edges[0].allowed" in problems[0].reason


def test_verify_audit_catches_a_file_added_or_removed(files: dict[str, bytes]) -> None:
    added = verify_files({**files, "notes.txt": b"trust me"})
    removed = verify_files({k: v for k, v in files.items() if k != "findings.csv"})

    assert [str(p) for p in added] == ["notes.txt: not listed in the manifest"]
    assert "findings.csv: listed in the manifest but missing" in [str(p) for p in removed]


def test_verify_audit_exits_non_zero_naming_the_file(archive: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from webapp.cli import main

    folder = tmp_path / "unpacked"
    call_command("export_audit", str(folder), "--at", AT, stdout=StringIO())
    (folder / "drift.json").write_text('{"findings": []}\n')

    assert main(["verify-audit", str(folder)]) == 1
    assert "FAILED drift.json" in capsys.readouterr().out


def test_an_export_is_in_the_audit_log(audrey: AbstractBaseUser, audrey_client: Client,
                                       files: dict[str, bytes]) -> None:
    audrey_client.get("/api/audit-export/", {"at": AT})

    event = AuditEvent.objects.filter(action="export").order_by("-id").first()
    assert event is not None and event.username == "audrey"
    assert event.details["at"] == AT
    assert event.details["manifest_sha256"] == sha256_hex(files[MANIFEST])


@pytest.mark.parametrize("persona", ["alice", "oscar"])
def test_only_auditors_and_admins_download_it(demo: Path, persona: str, ada_client: Client,
                                              request: pytest.FixtureRequest) -> None:
    user = request.getfixturevalue(persona)
    client = Client()
    client.force_login(user)

    assert client.get("/api/audit-export/", {"at": AT}).status_code == 403
    assert Client().get("/api/audit-export/", {"at": AT}).status_code == 403
    assert ada_client.get("/api/audit-export/", {"at": AT}).status_code == 200


def test_the_archive_is_a_gzip_without_a_name_or_time(archive: Path) -> None:
    header = archive.read_bytes()[:10]

    assert header[:3] == b"\x1f\x8b\x08" and header[3] == 0 and header[4:8] == b"\0\0\0\0"
    assert io.BytesIO(archive.read_bytes()).read(2) == b"\x1f\x8b"
