"""Intent versions and workload lifetimes through offline bundles: `manage.py ingest` and
`manage.py export_bundle`."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.webapp.rules.dumps import IPTABLES_SAVE
from webapp.inventory.models import Host, Workload
from webapp.policy.models import IntentVersion
from webapp.rules.bundle import BundleRejected, export_bundle, ingest_bundle

pytestmark = pytest.mark.django_db

REPO_ROOT = Path(__file__).resolve().parents[3]
DEMO = REPO_ROOT / "fixtures" / "demo"
T1 = datetime(2026, 11, 26, 3, 0, 5, tzinfo=UTC)
T2 = datetime(2026, 11, 26, 3, 5, 5, tzinfo=UTC)

INVENTORY = """\
hosts:
  - {name: node-01, addresses: [10.255.0.1]}
workloads:
  - {name: payments-7f9c, host: node-01, addresses: [10.1.0.1], labels: {app: payments}}
  - {name: web-1a2b, host: node-01, addresses: [10.1.0.2], labels: {app: web},
     started_at: 2026-11-26T02:00:00Z, stopped_at: 2026-11-26T03:02:00Z}
"""
V1 = """\
segments:
  payments: {app: payments}
  web: {app: web}
allow:
  - {from: web, to: payments, ports: [tcp/8080]}
default: deny
"""
V2 = V1 + "published_at: 2026-11-26T03:04:00Z\n"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """node-01 collected at T1 and T2; v1 says nothing of its publication, v2 does."""
    return write(tmp_path / "bundle", {
        "inventory.yaml": INVENTORY, "intent/v1.yaml": V1, "intent/v2.yaml": V2,
        f"hosts/node-01/{T1:%Y-%m-%dT%H:%M:%SZ}/iptables-save": IPTABLES_SAVE,
        f"hosts/node-01/{T2:%Y-%m-%dT%H:%M:%SZ}/iptables-save": IPTABLES_SAVE + "# moved\n",
    })


def published() -> dict[str, datetime]:
    return dict(IntentVersion.objects.values_list("version", "published_at"))


def test_it_stores_the_demos_versions_at_the_times_they_were_published() -> None:
    ingest_bundle(DEMO)

    assert published() == {"v1": datetime(2026, 11, 26, 4, 59, 27, tzinfo=UTC),
                           "v2": datetime(2026, 11, 26, 4, 59, 33, tzinfo=UTC)}
    v2 = IntentVersion.objects.get(version="v2")
    assert v2.text == (DEMO / "intent" / "v2.yaml").read_text()
    assert len(v2.intent.allows) == 3


def test_a_published_at_in_the_document_wins(bundle: Path) -> None:
    ingest_bundle(bundle)

    assert published() == {"v1": T1, "v2": datetime(2026, 11, 26, 3, 4, tzinfo=UTC)}


def test_ingesting_the_versions_again_changes_nothing(bundle: Path) -> None:
    ingest_bundle(bundle)
    before = list(IntentVersion.objects.values())

    again = ingest_bundle(bundle)

    assert (again.intents_created, again.intents_known, again.changed) == (0, 2, False)
    assert list(IntentVersion.objects.values()) == before


def test_a_version_stored_with_other_text_stops_the_ingest(bundle: Path,
                                                           tmp_path: Path) -> None:
    other = write(tmp_path / "other", {"intent/v1.yaml": V1.replace("8080", "8081")})
    ingest_bundle(other)

    with pytest.raises(BundleRejected, match=r"^intent/v1.yaml: text: version 'v1' is stored"):
        ingest_bundle(bundle)

    assert not Host.objects.exists()
    assert list(published()) == ["v1"]


def test_a_workload_without_a_start_has_run_since_the_earliest_snapshot(bundle: Path) -> None:
    ingest_bundle(bundle)

    assert Workload.objects.get(name="payments-7f9c").started_at == T1


def test_a_workload_with_a_stop_is_stored_stopped_then(bundle: Path) -> None:
    ingest_bundle(bundle)

    web = Workload.objects.get(name="web-1a2b")
    assert (web.started_at, web.stopped_at) == (datetime(2026, 11, 26, 2, 0, tzinfo=UTC),
                                                datetime(2026, 11, 26, 3, 2, tzinfo=UTC))


def test_an_export_keeps_published_at_and_the_rest_of_the_text(bundle: Path,
                                                                tmp_path: Path) -> None:
    ingest_bundle(bundle)

    export_bundle(tmp_path / "export", datetime(2026, 11, 26, 4, 0, tzinfo=UTC))

    v1 = (tmp_path / "export/intent/v1.yaml").read_text()
    assert v1 == "published_at: 2026-11-26T03:00:05Z\n" + V1
    assert (tmp_path / "export/intent/v2.yaml").read_text() == V2


def test_an_export_round_trip_keeps_versions_and_workload_lifetimes(bundle: Path,
                                                                     tmp_path: Path) -> None:
    ingest_bundle(bundle)
    versions = published()
    lifetimes = set(Workload.objects.values_list("name", "started_at", "stopped_at"))

    export_bundle(tmp_path / "export", datetime(2026, 11, 26, 4, 0, tzinfo=UTC), history=True)
    Host.objects.all().delete()
    IntentVersion.objects.all().delete()
    ingest_bundle(tmp_path / "export")

    assert published() == versions
    assert set(Workload.objects.values_list("name", "started_at", "stopped_at")) == lifetimes


def test_an_export_leaves_out_versions_published_after_its_time(bundle: Path,
                                                                 tmp_path: Path) -> None:
    ingest_bundle(bundle)

    summary = export_bundle(tmp_path / "export", datetime(2026, 11, 26, 3, 3, tzinfo=UTC))

    assert summary.intents == 1
    assert [p.name for p in (tmp_path / "export/intent").iterdir()] == ["v1.yaml"]


def test_an_export_writes_no_stop_that_came_after_its_time(bundle: Path, tmp_path: Path) -> None:
    ingest_bundle(bundle)

    export_bundle(tmp_path / "export", datetime(2026, 11, 26, 3, 1, tzinfo=UTC))

    inventory = (tmp_path / "export/inventory.yaml").read_text()
    assert "web-1a2b" in inventory and "stopped_at" not in inventory


def test_the_ingest_command_reports_the_versions(bundle: Path) -> None:
    out = StringIO()

    call_command("ingest", str(bundle), stdout=out)

    assert "intent versions v1, v2: 2 stored, 0 already known" in out.getvalue()
