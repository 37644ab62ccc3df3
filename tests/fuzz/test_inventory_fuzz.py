"""The inventory parser under fuzzing: Segscope YAML, `kubectl get pods -o json` and `docker
inspect` documents of any shape give an inventory or an InventoryError naming the file and the
field (or the line of a syntax error); never another exception."""

from __future__ import annotations

import json

import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from collectors.inventory import Inventory, InventoryError, parse_inventory
from tests.collectors.test_inventory import DOCKER_INSPECT, KUBECTL_PODS, SEGSCOPE_YAML
from tests.fuzz.documents import FUZZ, NOISE, damaged, json_values, mutated_json, texts

FILENAME = "inventory.yaml"
REAL = texts("fixtures/demo/inventory.yaml") + [SEGSCOPE_YAML]
DOCUMENTS = [yaml.safe_load(text) for text in REAL] + [KUBECTL_PODS, DOCKER_INSPECT]
KEYS = ["hosts", "workloads", "scope", "name", "host", "addresses", "attachment", "interface",
        "labels", "started_at", "stopped_at", "ports", "apiVersion", "kind", "items",
        "metadata", "namespace", "spec", "nodeName", "status", "podIPs", "ip", "phase",
        "containers", "containerPort", "protocol", "startTime", "Name", "Id", "State",
        "Running", "StartedAt", "Config", "Labels", "NetworkSettings", "Networks", "IPAddress",
        "GlobalIPv6Address", "NetworkID", "HostConfig", "NetworkMode"]
SCALARS: list[object] = [
    "node-01", "10.1.0.5", "2001:db8::12", "10.1.0.0/24", "bridged", "host", "cali1a2b3c",
    "2026-11-26T03:00:00Z", "2026-11-26", "2026-11-26T03:00:00", "tcp/8080", "udp/99999",
    "List", "PodList", "Pod", "Namespace", "Running", "Succeeded", "TCP", "SCTP", "bridge",
    "container:abc", "x" * 300, 8080, -1, 65536, True,
]
VALUES = json_values(KEYS, SCALARS)


def check(text: str | bytes, host: str | None = "node-01") -> Inventory | None:
    try:
        inventory = parse_inventory(text, FILENAME, host=host)
    except InventoryError as exc:
        assert exc.filename == FILENAME and exc.reason
        assert str(exc).startswith(f"{FILENAME}: ")
        return None
    for workload in inventory.workloads:
        workload.to_dict()
    for entry in inventory.hosts:
        entry.to_dict()
    return inventory


@FUZZ
@given(text=st.text() | st.binary())
def test_it_never_raises_on_random_text_or_bytes(text: str | bytes) -> None:
    check(text)


@FUZZ
@given(doc=VALUES, as_json=st.booleans())
def test_it_never_raises_on_random_documents_of_inventory_keys(doc: object,
                                                               as_json: bool) -> None:
    check(json.dumps(doc, default=str) if as_json else yaml.safe_dump(doc))


@FUZZ
@given(doc=mutated_json(DOCUMENTS, VALUES), as_json=st.booleans(), host=st.sampled_from(
    ["node-01", None]))
# A pod phase that is a list was looked up in a set: TypeError.
@example(doc={"kind": "Pod", "metadata": {"name": "p"}, "spec": {"nodeName": "node-01"},
              "status": {"phase": []}}, as_json=True, host=None)
def test_it_never_raises_on_real_inventories_with_values_changed(doc: object, as_json: bool,
                                                                  host: str | None) -> None:
    check(json.dumps(doc, default=str) if as_json else yaml.safe_dump(doc), host)


@FUZZ
@given(text=damaged(REAL + [json.dumps(doc, indent=1, default=str) for doc in DOCUMENTS],
                    NOISE | st.sampled_from([str(s) for s in SCALARS])))
def test_it_never_raises_on_damaged_real_inventories(text: str) -> None:
    check(text)
