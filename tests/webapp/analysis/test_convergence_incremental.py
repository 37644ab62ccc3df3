"""Convergence stored incrementally: closed generations are kept as they are, open and new ones
computed again, and what is stored always equals a computation from scratch."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collectors.inventory import parse_inventory
from webapp.analysis.convergence import compute_convergence
from webapp.analysis.models import GenerationResult
from webapp.inventory.models import Host
from webapp.inventory.services import apply_inventory
from webapp.rules.models import Snapshot
from webapp.rules.services import ingest_snapshot

pytestmark = pytest.mark.django_db


def _stored() -> list[dict[str, Any]]:
    return [{**row.to_dict(), "reads_until": row.reads_until, "reads_hash": row.reads_hash}
            for row in GenerationResult.objects.prefetch_related("hosts")]


def _from_scratch() -> list[dict[str, Any]]:
    GenerationResult.objects.all().delete()
    compute_convergence()
    return _stored()


def _ids() -> dict[int, int]:
    return dict(GenerationResult.objects.values_list("number", "id"))


def _dumps(host: str, at: str) -> dict[str, str]:
    moment = datetime.fromisoformat(at).replace(tzinfo=UTC)
    return dict(Snapshot.objects.get(host__name=host, collected_at=moment).dumps)


def _node_03_gets_v2(collected_at: datetime) -> None:
    """node-03 finally renders v2's web -> cache allow: its cache chain accepts web on 6379."""
    node_03 = Host.objects.get(name="node-03")
    dumps = dict(node_03.last_snapshot.dumps)
    chain = "seg-in-califc1d8994"
    dumps["iptables-save"] = dumps["iptables-save"].replace(
        f"-A {chain} -j NFLOG",
        f"-A {chain} -p tcp -m tcp --dport 6379 -m set --match-set seg-web src -j ACCEPT\n"
        f"-A {chain} -j NFLOG", 1)
    if "create seg-web " not in dumps["ipset-save"]:
        dumps["ipset-save"] = ("create seg-web hash:ip family inet hashsize 1024 maxelem 65536\n"
                               + dumps["ipset-save"])
    dumps["ipset-save"] += "".join(f"add seg-web {a}\n" for a in ("10.1.0.3", "10.2.0.2",
                                                                 "10.3.0.1"))
    ingest_snapshot(node_03, collected_at, dumps, {})


def test_it_keeps_a_closed_generation_and_computes_the_open_one_again(demo: Path) -> None:
    # Given the demo's convergence: v1 closed, v2 waiting for node-03
    assert compute_convergence()
    before = _ids()
    assert GenerationResult.objects.get(number=2).stragglers == ["node-03"]

    # When node-03 catches up
    _node_03_gets_v2(datetime(2026, 11, 26, 5, 0, tzinfo=UTC))
    assert compute_convergence()

    # Then v1's row was kept, v2's written again, and both are what a full computation stores
    after = _ids()
    assert after[1] == before[1] and after[2] != before[2]
    incremental = _stored()
    assert incremental[1]["stragglers"] == [] and incremental[1]["converged"] == 3
    assert incremental == _from_scratch()


def test_it_stores_what_a_full_computation_stores_after_every_change(demo: Path) -> None:
    assert compute_convergence()

    # node-03 catches up: v2 closes
    _node_03_gets_v2(datetime(2026, 11, 26, 5, 0, tzinfo=UTC))
    assert compute_convergence()
    assert _stored() == _from_scratch()

    # a workload stops: a new generation, the closed ones kept
    kept = _ids()
    text = (demo / "inventory.yaml").read_text()
    apply_inventory(parse_inventory(
        "\n".join(line for line in text.splitlines() if "cache-6467" not in line),
        "inventory.yaml"), now=datetime(2026, 11, 26, 5, 1, tzinfo=UTC))
    assert compute_convergence()
    assert [g["cause"] for g in _stored()] == ["intent v1", "intent v2", "stopped cache-6467"]
    assert {n: i for n, i in _ids().items() if n in kept} == kept
    incremental = _stored()
    assert incremental == _from_scratch()

    # a snapshot arrives late, inside v1's roll-out: nothing closed is taken as it was
    ingest_snapshot(Host.objects.get(name="node-02"), datetime(2026, 11, 26, 4, 59, 30,
                                                                tzinfo=UTC),
                    _dumps("node-02", "2026-11-26T04:59:32"), {})
    assert compute_convergence()
    incremental = _stored()
    assert incremental[0]["hosts"][1]["converged_at"] == "2026-11-26T04:59:30Z"
    assert incremental == _from_scratch()


def test_it_stores_nothing_when_nothing_changed(demo: Path) -> None:
    assert compute_convergence()
    stored = _stored()

    assert not compute_convergence()
    assert _stored() == stored
