"""Inventories: Segscope YAML/JSON, kubectl pods JSON and docker inspect JSON into hosts and
workloads, with errors that name the file and the field."""

import json
from datetime import UTC, datetime

import pytest

from collectors.inventory import (
    NAMESPACE_LABEL,
    InventoryError,
    parse_inventory,
)

SEGSCOPE_YAML = """\
hosts:
  - {name: node-01, addresses: [192.0.2.11], labels: {zone: a}}
  - {name: node-02, addresses: ["2001:db8::0012"], labels: {zone: b, tier: 1, canary: true}}
workloads:
  - {name: payments-7f9c, host: node-01, addresses: [10.1.0.5], attachment: bridged,
     interface: cali1a2b3c, labels: {app: payments, env: prod}, started_at: 2026-11-26T03:00:00Z}
  - {name: ledger-0, host: node-02, addresses: [10.1.0.9], attachment: host,
     labels: {app: ledger}}
"""

# The shape `kubectl get pods -A -o json` prints, cut down to the fields Segscope reads plus a
# few it must ignore.
KUBECTL_PODS = {
    "apiVersion": "v1",
    "kind": "List",
    "metadata": {"resourceVersion": ""},
    "items": [
        {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "payments-7f9c", "namespace": "shop",
                         "labels": {"app": "payments", "pod-template-hash": "7f9c"},
                         "uid": "5b0e3c44-6f0a-4c1e-9a53-1c7d9a1d2f10"},
            "spec": {"nodeName": "node-01", "containers": [{"name": "app", "image": "pay:1"}]},
            "status": {"phase": "Running", "podIP": "10.1.0.5",
                       "podIPs": [{"ip": "10.1.0.5"}, {"ip": "fd00::5"}],
                       "startTime": "2026-11-26T03:00:00Z"},
        },
        {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "node-exporter-x1", "namespace": "monitoring"},
            "spec": {"nodeName": "node-02", "hostNetwork": True},
            "status": {"phase": "Running", "podIP": "192.0.2.12",
                       "startTime": "2026-11-25T00:00:00Z"},
        },
        {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "batch-done", "namespace": "jobs"},
            "spec": {"nodeName": "node-03"},
            "status": {"phase": "Succeeded", "startTime": "2026-11-24T00:00:00Z"},
        },
        {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "pending-unscheduled", "namespace": "shop"},
            "spec": {},
            "status": {"phase": "Pending"},
        },
    ],
}

# The shape of `docker inspect $(docker ps -aq)`: one running container on the default bridge,
# one on a user-defined network, one with the host's network, one that has exited.
DOCKER_INSPECT = [
    {
        "Id": "4f1d2c3b", "Name": "/web-1",
        "State": {"Status": "running", "Running": True,
                  "StartedAt": "2026-11-26T03:00:00.123456789Z"},
        "Config": {"Hostname": "4f1d2c3b", "Labels": {"com.docker.compose.service": "web"}},
        "HostConfig": {"NetworkMode": "default"},
        "NetworkSettings": {"Networks": {"bridge": {
            "NetworkID": "9a8b7c6d5e4f3a2b1c0d", "IPAddress": "172.17.0.2",
            "GlobalIPv6Address": ""}}},
    },
    {
        "Id": "5e6f", "Name": "/db",
        "State": {"Running": True, "StartedAt": "2026-11-26T03:01:00Z"},
        "Config": {"Labels": None},
        "HostConfig": {"NetworkMode": "shop_default"},
        "NetworkSettings": {"Networks": {"shop_default": {
            "NetworkID": "0123456789abcdef0123", "IPAddress": "172.18.0.3"}}},
    },
    {
        "Id": "7a8b", "Name": "/agent",
        "State": {"Running": True, "StartedAt": "2026-11-26T02:00:00Z"},
        "Config": {"Labels": {"role": "agent"}},
        "HostConfig": {"NetworkMode": "host"},
        "NetworkSettings": {"Networks": {"host": {"NetworkID": "ffff", "IPAddress": ""}}},
    },
    {
        "Id": "9c0d", "Name": "/old",
        "State": {"Running": False, "StartedAt": "2026-11-20T00:00:00Z"},
        "Config": {}, "HostConfig": {}, "NetworkSettings": {"Networks": {}},
    },
]


def test_it_reads_the_segscope_yaml_format() -> None:
    inventory = parse_inventory(SEGSCOPE_YAML, "inventory.yaml")

    assert inventory.format == "segscope"
    assert [h.to_dict() for h in inventory.hosts] == [
        {"name": "node-01", "addresses": ["192.0.2.11"], "labels": {"zone": "a"}},
        {"name": "node-02", "addresses": ["2001:db8::12"],
         "labels": {"zone": "b", "tier": "1", "canary": "true"}},
    ]
    payments, ledger = inventory.workloads
    assert payments.to_dict() == {
        "name": "payments-7f9c", "host": "node-01", "addresses": ["10.1.0.5"],
        "attachment": "bridged", "interface": "cali1a2b3c",
        "labels": {"app": "payments", "env": "prod"}, "started_at": "2026-11-26T03:00:00+00:00"}
    assert ledger.attachment == "host"
    assert ledger.started_at is None
    assert inventory.scope == {"node-01", "node-02"}


def test_it_reads_the_same_format_as_json() -> None:
    data = {"workloads": [{"name": "w", "host": "h", "started_at": "2026-11-26T03:00:00+01:00"}]}

    inventory = parse_inventory(json.dumps(data), "inventory.json")

    assert inventory.workloads[0].started_at == datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    assert inventory.scope == {"h"}


def test_it_reads_when_a_workload_stopped_and_keeps_its_predecessors() -> None:
    inventory = parse_inventory(
        "workloads:\n"
        "  - {name: w, host: h, started_at: 2026-11-26T01:00:00Z,"
        " stopped_at: 2026-11-26T02:00:00+01:00}\n"
        "  - {name: w, host: h, started_at: 2026-11-26T02:00:00Z}\n", "inventory.yaml")

    old, new = inventory.workloads
    assert old.stopped_at == datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    assert old.to_dict()["stopped_at"] == "2026-11-26T02:00:00+01:00"
    assert new.stopped_at is None and "stopped_at" not in new.to_dict()


def test_a_file_with_hosts_only_is_authoritative_for_no_workloads() -> None:
    inventory = parse_inventory("hosts:\n  - {name: node-01}\n", "hosts.yaml")

    assert inventory.scope == frozenset()
    assert inventory.host_names() == {"node-01"}


def test_it_reads_kubectl_pods_as_workloads_on_their_nodes() -> None:
    inventory = parse_inventory(json.dumps(KUBECTL_PODS), "pods.json")

    assert inventory.format == "kubectl"
    payments, exporter = inventory.workloads
    assert payments.name == "shop/payments-7f9c"
    assert payments.host == "node-01"
    assert payments.addresses == ("10.1.0.5", "fd00::5")
    assert payments.attachment == "bridged"
    assert dict(payments.labels) == {
        "app": "payments", "pod-template-hash": "7f9c", NAMESPACE_LABEL: "shop"}
    assert payments.started_at == datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    assert exporter.attachment == "host"
    assert exporter.addresses == ("192.0.2.12",)


def test_kubectl_scope_is_every_node_seen_even_with_only_finished_pods() -> None:
    inventory = parse_inventory(json.dumps(KUBECTL_PODS), "pods.json")

    assert inventory.scope == {"node-01", "node-02", "node-03"}
    assert "jobs/batch-done" not in {w.name for w in inventory.workloads}


def test_it_reads_a_single_pod() -> None:
    pod = KUBECTL_PODS["items"][0]  # type: ignore[index]

    inventory = parse_inventory(json.dumps(pod), "pod.json")

    assert [w.name for w in inventory.workloads] == ["shop/payments-7f9c"]


def test_it_reads_running_docker_containers_on_the_named_host() -> None:
    inventory = parse_inventory(json.dumps(DOCKER_INSPECT), "inspect.json", host="node-01")

    assert inventory.format == "docker"
    assert inventory.scope == {"node-01"}
    by_name = {w.name: w for w in inventory.workloads}
    assert set(by_name) == {"web-1", "db", "agent"}
    assert by_name["web-1"].addresses == ("172.17.0.2",)
    assert by_name["web-1"].interface == "docker0"
    assert by_name["web-1"].started_at == datetime(2026, 11, 26, 3, 0, 0, 123456, tzinfo=UTC)
    assert by_name["db"].interface == "br-0123456789ab"
    assert dict(by_name["db"].labels) == {}
    assert by_name["agent"].attachment == "host"
    assert by_name["agent"].interface == ""


def test_docker_output_needs_the_host_it_comes_from() -> None:
    with pytest.raises(InventoryError, match="which host"):
        parse_inventory(json.dumps(DOCKER_INSPECT), "inspect.json")


@pytest.mark.parametrize(("text", "path", "reason"), [
    ("workloads:\n  - {name: w, host: h, addresses: [10.0.0.300]}\n",
     "workloads[0].addresses[0]", "not an IP address"),
    ("workloads:\n  - {name: w, host: h, attachment: tunnel}\n",
     "workloads[0].attachment", "must be one of"),
    ("workloads:\n  - {name: w}\n", "workloads[0].host", "non-empty name"),
    ("workloads:\n  - {name: w, host: h, started_at: 2026-11-26 03:00:00}\n",
     "workloads[0].started_at", "no time zone"),
    ("workloads:\n  - {name: w, host: h, stopped_at: 2026-11-26}\n",
     "workloads[0].stopped_at", "a date without a time"),
    ("workloads:\n  - {name: w, host: h, started_at: 2026-11-26T03:00:00Z,\n"
     "     stopped_at: 2026-11-26T02:00:00Z}\n", "workloads[0].stopped_at",
     "before its started_at"),
    ("workloads:\n  - {name: w, host: h}\n  - {name: w, host: h}\n", "workloads[1].name",
     "listed twice"),
    ("workloads:\n  - {name: w, host: h, adresses: [10.0.0.1]}\n",
     "workloads[0].adresses", "unknown field"),
    ("hosts:\n  - {name: a}\n  - {name: a}\n", "hosts[1].name", "listed twice"),
    ("workloads:\n  - {name: w, host: h, labels: {app: [x]}}\n",
     "workloads[0].labels.app", "label value must be text"),
])
def test_it_names_the_file_and_field_of_an_error(text: str, path: str, reason: str) -> None:
    with pytest.raises(InventoryError) as caught:
        parse_inventory(text, "inventory.yaml")

    assert caught.value.filename == "inventory.yaml"
    assert caught.value.path == path
    assert reason in caught.value.reason


def test_it_names_the_field_of_a_bad_pod() -> None:
    pods = {"kind": "List", "items": [{"kind": "Pod", "metadata": {"name": "p"},
                                       "spec": {"nodeName": "n"},
                                       "status": {"podIP": "not-an-ip"}}]}

    with pytest.raises(InventoryError) as caught:
        parse_inventory(json.dumps(pods), "pods.json")

    assert caught.value.path == "items[0].status.podIP[0]"


def test_it_reports_the_line_of_a_yaml_syntax_error() -> None:
    with pytest.raises(InventoryError, match="line 2"):
        parse_inventory("hosts:\n\t- {name: a}\n", "broken.yaml")


def test_it_refuses_what_is_not_an_inventory() -> None:
    with pytest.raises(InventoryError, match="not an inventory"):
        parse_inventory('{"segments": {}}', "intent.json")


def test_it_reads_namespaces_and_named_container_ports_from_kubectl() -> None:
    listing = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": "shop", "labels": {"kubernetes.io/metadata.name": "shop",
                                                 "team": "payments"}}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "empty"}},
        {**KUBECTL_PODS["items"][0],  # type: ignore[index]
         "spec": {"nodeName": "node-01", "containers": [
             {"name": "app", "ports": [{"name": "http", "containerPort": 8080},
                                       {"containerPort": 9090}]},
             {"name": "dns", "ports": [{"name": "dns", "containerPort": 53,
                                        "protocol": "UDP"}]}]}},
    ]}

    inventory = parse_inventory(json.dumps(listing), "cluster.json")

    assert inventory.namespaces == {
        "shop": {"kubernetes.io/metadata.name": "shop", "team": "payments"}, "empty": {}}
    assert inventory.workloads[0].ports == {"http": ("tcp", 8080), "dns": ("udp", 53)}


def test_pods_alone_give_no_namespaces_and_no_ports() -> None:
    inventory = parse_inventory(json.dumps(KUBECTL_PODS), "pods.json")

    assert inventory.namespaces == {}
    assert inventory.workloads[0].ports == {}


def test_it_reads_named_ports_in_the_segscope_format_and_writes_them_back() -> None:
    text = "workloads:\n  - {name: api-0, host: node-01, ports: {http: tcp/8080, dns: UDP/53}}\n"

    workload = parse_inventory(text, "inventory.yaml").workloads[0]

    assert workload.ports == {"http": ("tcp", 8080), "dns": ("udp", 53)}
    assert workload.to_dict()["ports"] == {"http": "tcp/8080", "dns": "udp/53"}
    again = parse_inventory(json.dumps({"workloads": [workload.to_dict()]}), "again.json")
    assert again.workloads[0].ports == workload.ports


@pytest.mark.parametrize(("data", "path"), [
    ({"workloads": [{"name": "w", "host": "h", "ports": {"http": "tcp/99999"}}]},
     "workloads[0].ports.http"),
    ({"workloads": [{"name": "w", "host": "h", "ports": {"http": "icmp/8"}}]},
     "workloads[0].ports.http"),
    ({"kind": "List", "items": [{"kind": "Pod", "metadata": {"name": "p"},
                                 "spec": {"nodeName": "n", "containers": [
                                     {"ports": [{"name": "http", "containerPort": "80"}]}]}}]},
     "items[0].spec.containers[0].ports[0].containerPort"),
    ({"kind": "List", "items": [{"kind": "Pod", "metadata": {"name": "p"},
                                 "spec": {"nodeName": "n", "containers": [
                                     {"ports": [{"name": "h", "containerPort": 80,
                                                 "protocol": "ICMP"}]}]}}]},
     "items[0].spec.containers[0].ports[0].protocol"),
    ({"kind": "List", "items": [{"kind": "Namespace", "metadata": {}}]},
     "items[0].metadata.name"),
])
def test_it_names_the_field_of_a_bad_named_port_or_namespace(data: object, path: str) -> None:
    with pytest.raises(InventoryError) as caught:
        parse_inventory(json.dumps(data), "inventory.json")

    assert caught.value.path == path
