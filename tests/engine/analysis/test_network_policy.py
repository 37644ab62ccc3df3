"""A bundle whose intent is Kubernetes NetworkPolicy: read as such, judged by its semantics."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.bundle import BundleError, read_bundle
from collectors.netpol import NetworkPolicyIntent
from webapp.engine.analysis.offline import BundleAnalysis

NETPOL = Path(__file__).resolve().parents[2] / "collectors" / "data" / "netpol"
INVENTORY = """\
hosts:
  - {name: n1}
  - {name: n2}
workloads:
  - {name: api-1, host: n1, addresses: [10.1.0.1], interface: cali00000001, labels: {app: bookstore, role: api, io.kubernetes.pod.namespace: default}}
  - {name: front-1, host: n2, addresses: [10.2.0.1], interface: cali00000002, labels: {app: bookstore, role: frontend, io.kubernetes.pod.namespace: default}}
  - {name: coffee-1, host: n2, addresses: [10.2.0.2], interface: cali00000003, labels: {app: coffeeshop, io.kubernetes.pod.namespace: default}}
"""  # noqa: E501
OPEN_HOST = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    (tmp_path / "intent").mkdir()
    (tmp_path / "intent" / "k8s-1.yaml").write_text(
        (NETPOL / "recipe-02-api-allow.yaml").read_text())
    for host in ("n1", "n2"):
        folder = tmp_path / "hosts" / host / "2026-11-26T03:00:00Z"
        folder.mkdir(parents=True)
        (folder / "iptables-save").write_text(OPEN_HOST)
    return tmp_path


def test_a_bundle_reads_network_policy_objects_as_an_intent_version(bundle: Path) -> None:
    intents = read_bundle(bundle).intents
    assert [(i.version, type(i.intent)) for i in intents] == [("k8s-1", NetworkPolicyIntent)]


def test_drift_judges_the_fleet_by_kubernetes_semantics(bundle: Path) -> None:
    findings = BundleAnalysis(bundle).drift_json()["findings"]
    excess = {tuple(f["workloads"]) for f in findings if f["kind"] == "excess"}
    # Only api pods are selected: coffee may not reach api; everything else is allowed.
    assert ("coffee-1", "api-1") in excess
    assert ("front-1", "api-1") not in excess and ("api-1", "coffee-1") not in excess
    assert not [f for f in findings if f["kind"] == "missing"]


def test_a_malformed_network_policy_in_a_bundle_names_its_field(bundle: Path) -> None:
    path = bundle / "intent" / "k8s-1.yaml"
    path.write_text(path.read_text().replace("podSelector:\n    matchLabels:",
                                             "podSelector:\n    matchLabelz:", 1))
    with pytest.raises(BundleError, match=r"intent/k8s-1.yaml: .*matchLabelz"):
        read_bundle(bundle)
