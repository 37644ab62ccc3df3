"""Kubernetes NetworkPolicy as intent: every example of the upstream "Network Policies" concepts
page and of the kubernetes-network-policy-recipes, each as a fixture in data/netpol, evaluated on
concrete pods; and malformed policies, refused with the field path."""

import json
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from collectors.intent import IntentError, PortRange
from collectors.inventory import NAMESPACE_LABEL, WorkloadEntry, parse_inventory
from collectors.netpol import ALL_PORTS, NetworkPolicyIntent, parse_network_policies

DATA = Path(__file__).parent / "data" / "netpol"
ALL = ALL_PORTS
DENIED: tuple[PortRange, ...] = ()


def tcp(low: int, high: int | None = None) -> PortRange:
    return PortRange("tcp", low, low if high is None else high)


def udp(port: int) -> PortRange:
    return PortRange("udp", port, port)


def pod(pod_name: str, namespace: str = "default", /, *, ip: str = "10.8.0.1",
        ports: Mapping[str, tuple[str, int]] | None = None, **labels: str) -> WorkloadEntry:
    """A pod as the kubectl inventory gives it: namespace label, pod IP, named ports."""
    return WorkloadEntry(f"{namespace}/{pod_name}", "node-01", (ip,),
                         labels={**labels, NAMESPACE_LABEL: namespace}, ports=ports or {})


def outside(ip: str) -> WorkloadEntry:
    """Something that is not a pod: a client on the Internet, a database outside the cluster."""
    return WorkloadEntry(f"host-{ip}", "outside", (ip,))


def load(*names: str) -> NetworkPolicyIntent:
    """The fixtures' policies together, as if all were applied to one cluster."""
    documents = []
    for name in names:
        documents.extend(yaml.safe_load_all((DATA / name).read_text()))
    objects = []
    for doc in documents:
        objects.extend(doc["items"] if doc.get("kind") == "List" else [doc])
    return parse_network_policies(objects, "+".join(names))


# Upstream documentation: concepts/services-networking/network-policies

def test_the_documented_example_allows_db_on_6379_from_its_three_sources() -> None:
    policies = parse_network_policies((DATA / "docs-test-network-policy.json").read_text(),
                                      "docs-test-network-policy.json")
    db = pod("db-0", ip="10.8.0.9", role="db")
    namespaces = {"analytics": {"project": "myproject"}}

    assert policies.allowed_ports(pod("frontend", role="frontend"), db, namespaces) == (tcp(6379),)
    assert policies.allowed_ports(pod("etl", "analytics"), db, namespaces) == (tcp(6379),)
    assert policies.allowed_ports(outside("172.17.0.10"), db, namespaces) == (tcp(6379),)
    assert policies.allowed_ports(outside("172.17.2.10"), db, namespaces) == (tcp(6379),)


def test_the_documented_example_denies_db_to_everyone_else() -> None:
    policies = parse_network_policies((DATA / "docs-test-network-policy.json").read_text(), "np")
    db = pod("db-0", ip="10.8.0.9", role="db")

    assert policies.allowed_ports(outside("172.17.1.10"), db, {}) == DENIED  # the except
    assert policies.allowed_ports(pod("etl", "analytics"), db, {}) == DENIED  # no label
    assert policies.allowed_ports(pod("frontend", "shop", role="frontend"), db, {}) == DENIED
    assert policies.allowed_ports(pod("backend", role="backend"), db, {}) == DENIED


def test_the_documented_example_lets_db_out_to_10_0_0_0_24_on_5978_only() -> None:
    policies = parse_network_policies((DATA / "docs-test-network-policy.json").read_text(), "np")
    db = pod("db-0", ip="10.8.0.9", role="db")
    frontend = pod("frontend", ip="10.8.0.2", role="frontend")

    assert policies.allowed_ports(db, outside("10.0.0.7"), {}) == (tcp(5978),)
    assert policies.allowed_ports(db, outside("10.0.1.7"), {}) == DENIED
    assert policies.allowed_ports(db, frontend, {}) == DENIED
    assert policies.allowed_ports(frontend, pod("cache", role="cache"), {}) == ALL


def test_both_selectors_in_one_peer_select_client_pods_in_alices_namespaces() -> None:
    policies = load("docs-namespace-and-pod-selector.yaml")
    db = pod("db-0", role="db")
    namespaces = {"alice-dev": {"user": "alice"}}

    assert policies.allowed_ports(pod("c", "alice-dev", role="client"), db, namespaces) == ALL
    assert policies.allowed_ports(pod("w", "alice-dev", role="web"), db, namespaces) == DENIED
    assert policies.allowed_ports(pod("c", "default", role="client"), db, namespaces) == DENIED


def test_two_peers_select_local_clients_or_any_pod_of_alices_namespaces() -> None:
    policies = load("docs-namespace-or-pod-selector.yaml")
    db = pod("db-0", role="db")
    namespaces = {"alice-dev": {"user": "alice"}}

    assert policies.allowed_ports(pod("c", "default", role="client"), db, namespaces) == ALL
    assert policies.allowed_ports(pod("w", "alice-dev", role="web"), db, namespaces) == ALL
    assert policies.allowed_ports(pod("w", "default", role="web"), db, namespaces) == DENIED
    assert policies.allowed_ports(pod("c", "bob-dev", role="client"), db, namespaces) == DENIED


def test_default_deny_ingress_isolates_every_pod_of_its_namespace_for_ingress_only() -> None:
    policies = load("docs-default-deny-ingress.yaml")
    alice, bob = pod("alice", ip="10.8.0.1"), pod("bob", ip="10.8.0.2")
    carol = pod("carol", "other", ip="10.9.0.3")

    assert policies.allowed_ports(alice, bob, {}) == DENIED
    assert policies.allowed_ports(carol, alice, {}) == DENIED
    assert policies.allowed_ports(outside("203.0.113.9"), alice, {}) == DENIED
    assert policies.allowed_ports(alice, carol, {}) == ALL


def test_allow_all_ingress_wins_over_default_deny_ingress() -> None:
    policies = load("docs-default-deny-ingress.yaml", "docs-allow-all-ingress.yaml")

    assert policies.allowed_ports(outside("203.0.113.9"), pod("alice"), {}) == ALL
    assert policies.allowed_ports(pod("carol", "other"), pod("alice"), {}) == ALL


def test_default_deny_egress_isolates_every_pod_of_its_namespace_for_egress_only() -> None:
    policies = load("docs-default-deny-egress.yaml")
    alice, carol = pod("alice"), pod("carol", "other")

    assert policies.allowed_ports(alice, carol, {}) == DENIED
    assert policies.allowed_ports(alice, outside("198.51.100.1"), {}) == DENIED
    assert policies.allowed_ports(carol, alice, {}) == ALL


def test_allow_all_egress_wins_over_default_deny_egress() -> None:
    policies = load("docs-default-deny-egress.yaml", "docs-allow-all-egress.yaml")

    assert policies.allowed_ports(pod("alice"), outside("198.51.100.1"), {}) == ALL


def test_default_deny_all_isolates_both_ways() -> None:
    policies = load("docs-default-deny-all.yaml")
    alice, bob, carol = pod("alice"), pod("bob"), pod("carol", "other")

    assert policies.allowed_ports(alice, bob, {}) == DENIED
    assert policies.allowed_ports(carol, alice, {}) == DENIED
    assert policies.allowed_ports(alice, carol, {}) == DENIED
    assert policies.allowed_ports(carol, pod("dave", "other"), {}) == ALL


def test_end_port_allows_the_whole_range() -> None:
    policies = load("docs-multi-port-egress.yaml")
    db = pod("db-0", role="db")

    assert policies.allowed_ports(db, outside("10.0.0.5"), {}) == (tcp(32000, 32768),)
    assert policies.allowed_ports(db, outside("10.0.1.5"), {}) == DENIED
    assert policies.allowed_ports(pod("alice"), db, {}) == ALL  # egress-only policy


def test_a_namespace_is_selected_by_its_name_label_without_being_listed() -> None:
    policies = load("docs-namespace-by-name.yaml")
    web = pod("web", app="web")

    assert policies.allowed_ports(pod("ui", "frontend"), web, {}) == ALL
    assert policies.allowed_ports(pod("api", "backend"), web, {}) == DENIED


# ahmetb/kubernetes-network-policy-recipes

def test_recipe_01_denies_all_traffic_to_an_application() -> None:
    policies = load("recipe-01-web-deny-all.yaml")
    web = pod("web", ip="10.8.0.5", app="web", env="prod")
    test = pod("test-1234", ip="10.8.0.6", run="test")

    assert policies.allowed_ports(test, web, {}) == DENIED
    assert policies.allowed_ports(test, pod("web-staging", app="web", env="staging"), {}) == ALL
    assert policies.allowed_ports(web, test, {}) == ALL


def test_recipe_02_limits_traffic_to_an_application() -> None:
    policies = load("recipe-02-api-allow.yaml")
    api = pod("apiserver", app="bookstore", role="api")

    assert policies.allowed_ports(pod("fe", app="bookstore", role="frontend"), api, {}) == ALL
    assert policies.allowed_ports(pod("test"), api, {}) == DENIED
    assert policies.allowed_ports(pod("fe", "shop", app="bookstore"), api, {}) == DENIED


def test_recipe_02a_allows_all_traffic_to_an_application_despite_deny_all() -> None:
    policies = parse_network_policies((DATA / "recipe-02a-web-allow-all.yaml").read_text(), "02a")
    web = pod("web", app="web", env="prod")

    assert len(policies.policies) == 2
    assert policies.allowed_ports(pod("test"), web, {}) == ALL
    assert policies.allowed_ports(pod("test", "other"), web, {}) == ALL
    assert policies.allowed_ports(outside("203.0.113.9"), web, {}) == ALL


def test_recipe_03_denies_all_non_allowed_traffic_in_the_namespace() -> None:
    policies = load("recipe-03-default-deny-all.yaml")
    alice, bob, carol = pod("alice"), pod("bob"), pod("carol", "other")

    assert policies.allowed_ports(alice, bob, {}) == DENIED
    assert policies.allowed_ports(carol, alice, {}) == DENIED
    assert policies.allowed_ports(alice, carol, {}) == ALL  # no egress rules, no egress isolation


def test_recipe_04_denies_traffic_from_other_namespaces() -> None:
    policies = load("recipe-04-deny-from-other-namespaces.yaml")
    web = pod("web", "secondary", app="web")

    assert policies.allowed_ports(pod("test", "secondary"), web, {}) == ALL
    assert policies.allowed_ports(pod("test", "default"), web, {}) == DENIED
    assert policies.allowed_ports(outside("203.0.113.9"), web, {}) == DENIED


def test_recipe_05_allows_traffic_to_an_application_from_all_namespaces() -> None:
    policies = load("recipe-05-web-allow-all-namespaces.yaml")
    web = pod("web", "secondary", app="web")

    assert policies.allowed_ports(pod("test", "default"), web, {}) == ALL
    assert policies.allowed_ports(pod("test", "secondary"), web, {}) == ALL
    assert policies.allowed_ports(outside("203.0.113.9"), web, {}) == DENIED  # pods only


def test_recipe_06_allows_all_traffic_from_a_namespace() -> None:
    policies = load("recipe-06-web-allow-prod.yaml")
    web = pod("web", app="web")
    namespaces = {"dev": {"purpose": "testing"}, "prod": {"purpose": "production"}}

    assert policies.allowed_ports(pod("test", "prod"), web, namespaces) == ALL
    assert policies.allowed_ports(pod("test", "dev"), web, namespaces) == DENIED
    assert policies.allowed_ports(pod("test", "default"), web, namespaces) == DENIED


def test_recipe_07_allows_traffic_from_some_pods_in_another_namespace() -> None:
    policies = load("recipe-07-web-allow-all-ns-monitoring.yaml")
    web = pod("web", app="web")
    namespaces = {"other": {"team": "operations"}}

    assert policies.allowed_ports(pod("test", "default"), web, namespaces) == DENIED
    assert policies.allowed_ports(pod("test", "default", type="monitoring"), web,
                                  namespaces) == DENIED
    assert policies.allowed_ports(pod("test", "other"), web, namespaces) == DENIED
    assert policies.allowed_ports(pod("test", "other", type="monitoring"), web, namespaces) == ALL


def test_recipe_08_allows_traffic_from_external_clients() -> None:
    policies = load("recipe-03-default-deny-all.yaml", "recipe-08-web-allow-external.yaml")
    web = pod("web", app="web")

    assert policies.allowed_ports(outside("198.51.100.7"), web, {}) == ALL
    assert policies.allowed_ports(outside("198.51.100.7"), pod("db"), {}) == DENIED


def test_recipe_08_restricted_to_port_80_allows_no_ping() -> None:
    policies = load("recipe-08-web-allow-external-port-80.yaml")

    assert policies.allowed_ports(outside("198.51.100.7"), pod("web", app="web"), {}) == (tcp(80),)


def test_recipe_09_allows_traffic_only_to_a_port_of_an_application() -> None:
    policies = load("recipe-09-api-allow-5000.yaml")
    api = pod("apiserver", app="apiserver")

    assert policies.allowed_ports(pod("prom", role="monitoring"), api, {}) == (tcp(5000),)
    assert policies.allowed_ports(pod("test"), api, {}) == DENIED


def test_recipe_09_by_name_follows_each_pods_own_port_of_that_name() -> None:
    policies = load("recipe-09-api-allow-named-port.yaml")
    api = pod("api-0", ports={"api-port": ("tcp", 5000)}, app="apiserver")
    moved = pod("api-1", ports={"api-port": ("tcp", 5001)}, app="apiserver")
    udp_only = pod("api-2", ports={"api-port": ("udp", 5000)}, app="apiserver")
    unnamed = pod("api-3", app="apiserver")

    assert policies.allowed_ports(pod("test"), api, {}) == (tcp(5000),)
    assert policies.allowed_ports(pod("test"), moved, {}) == (tcp(5001),)
    assert policies.allowed_ports(pod("test"), udp_only, {}) == DENIED
    assert policies.allowed_ports(pod("test"), unnamed, {}) == DENIED


def test_recipe_10_allows_traffic_from_apps_using_multiple_selectors() -> None:
    policies = load("recipe-10-redis-allow-services.yaml")
    db = pod("db", app="bookstore", role="db")

    for role, app in (("search", "bookstore"), ("api", "bookstore"), ("web", "inventory")):
        assert policies.allowed_ports(pod(role, app=app, role=role), db, {}) == ALL
    assert policies.allowed_ports(pod("test", app="other"), db, {}) == DENIED
    assert policies.allowed_ports(pod("test", app="bookstore", role="web"), db, {}) == DENIED


def test_recipe_11_denies_egress_traffic_from_an_application() -> None:
    policies = load("recipe-11-foo-deny-egress.yaml")
    foo, web = pod("foo", app="foo"), pod("web", app="web")

    assert policies.allowed_ports(foo, web, {}) == DENIED
    assert policies.allowed_ports(foo, outside("93.184.216.34"), {}) == DENIED
    assert policies.allowed_ports(web, foo, {}) == ALL


def test_recipe_11_with_dns_allows_port_53_to_anyone_and_no_ping() -> None:
    policies = load("recipe-11-foo-deny-egress-dns.yaml")
    foo = pod("foo", app="foo")
    dns = pod("coredns", "kube-system", **{"k8s-app": "kube-dns"})

    assert policies.allowed_ports(foo, dns, {}) == (tcp(53), udp(53))
    assert policies.allowed_ports(foo, outside("93.184.216.34"), {}) == (tcp(53), udp(53))
    assert policies.allowed_ports(foo, pod("web", app="web"), {}) == (tcp(53), udp(53))


def test_recipe_12_denies_all_non_allowed_egress_from_the_namespace() -> None:
    policies = load("recipe-12-default-deny-all-egress.yaml")

    assert policies.allowed_ports(pod("alice"), pod("carol", "other"), {}) == DENIED
    assert policies.allowed_ports(pod("alice"), outside("93.184.216.34"), {}) == DENIED
    assert policies.allowed_ports(pod("carol", "other"), pod("alice"), {}) == ALL


def test_recipe_13_allows_egress_to_a_namespace_or_to_pods_of_one() -> None:
    policies = load("recipe-13-egress-to-pod-in-namespace.json")
    external = pod("external", name="external")
    dns = pod("coredns", "kube-system", **{"k8s-app": "kube-dns"})
    internal, other = pod("internal", name="internal"), pod("other", name="other")
    namespaces = {"kube-system": {"name": "kube-system"}, "default": {"name": "default"}}
    expected = (tcp(53), tcp(8080), udp(53))

    assert policies.allowed_ports(external, dns, namespaces) == expected
    assert policies.allowed_ports(external, internal, namespaces) == expected
    assert policies.allowed_ports(external, other, namespaces) == DENIED
    assert policies.allowed_ports(external, internal, {}) == DENIED  # default lacks name=default


def test_recipe_14_denies_external_egress_traffic() -> None:
    policies = load("recipe-14-foo-deny-external-egress.yaml")
    foo = pod("foo", app="foo")

    assert policies.allowed_ports(foo, pod("web", app="web"), {}) == ALL
    assert policies.allowed_ports(foo, pod("db", "other"), {}) == ALL
    assert policies.allowed_ports(foo, outside("93.184.216.34"), {}) == (tcp(53), udp(53))


# Semantics beyond the examples

def test_egress_and_ingress_must_both_allow_and_ports_intersect() -> None:
    policies = load("recipe-11-foo-deny-egress-dns.yaml", "recipe-09-api-allow-5000.yaml")
    foo_monitor = pod("foo", app="foo", role="monitoring")

    assert policies.allowed_ports(foo_monitor, pod("api", app="apiserver"), {}) == DENIED


def test_match_expressions_follow_kubernetes_operators() -> None:
    policies = parse_network_policies("""
kind: NetworkPolicy
metadata: {name: expressions, namespace: shop}
spec:
  podSelector:
    matchExpressions:
      - {key: tier, operator: In, values: [db, cache]}
      - {key: env, operator: NotIn, values: [dev]}
      - {key: pci, operator: Exists}
      - {key: legacy, operator: DoesNotExist}
""", "expressions.yaml")
    client = pod("client", "shop")

    def isolated(**labels: str) -> bool:
        return policies.allowed_ports(client, pod("p", "shop", **labels), {}) == DENIED

    assert isolated(tier="db", pci="yes")
    assert isolated(tier="cache", env="prod", pci="")
    assert not isolated(tier="web", pci="yes")
    assert not isolated(tier="db", env="dev", pci="yes")
    assert not isolated(tier="db")
    assert not isolated(tier="db", pci="yes", legacy="1")


def test_host_network_pods_are_never_isolated_and_match_only_ip_blocks() -> None:
    policies = load("docs-default-deny-all.yaml", "docs-namespace-or-pod-selector.yaml")
    exporter = WorkloadEntry("default/exporter", "node-01", ("192.0.2.11",), "host",
                             labels={NAMESPACE_LABEL: "default", "role": "client"})

    assert policies.allowed_ports(outside("203.0.113.9"), exporter, {}) == ALL
    assert policies.allowed_ports(exporter, pod("db", role="db"), {}) == DENIED


def test_an_empty_from_list_or_a_missing_one_means_every_peer() -> None:
    policies = parse_network_policies("""
kind: NetworkPolicy
metadata: {name: web-80}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
    - from: []
      ports: [{port: 80}]
    - ports: [{port: 443}, {protocol: UDP}]
""", "web.yaml")

    assert policies.allowed_ports(outside("203.0.113.9"), pod("web", app="web"), {}) == (
        tcp(80), tcp(443), PortRange("udp", 0, 65535))


def test_policy_types_default_to_ingress_plus_egress_when_there_are_egress_rules() -> None:
    policies = load("docs-test-network-policy.json", "recipe-02-api-allow.yaml")
    types = {p.name: p.policy_types for p in policies.policies}

    assert types == {"test-network-policy": {"Ingress", "Egress"}, "api-allow": {"Ingress"}}


def test_it_reads_kubectl_list_output_as_yaml_too() -> None:
    data = json.loads((DATA / "docs-test-network-policy.json").read_text())

    from_yaml = parse_network_policies(yaml.safe_dump(data), "np.yaml")
    from_json = parse_network_policies(data, "np.json")

    assert from_yaml == from_json


def test_it_gives_one_segment_per_namespace_of_its_policies() -> None:
    policies = load("recipe-04-deny-from-other-namespaces.yaml", "recipe-02-api-allow.yaml")
    named = parse_network_policies([], "none.json", version="v7")

    assert policies.kind == "networkpolicy"
    assert policies.segments == {"ns/default": {NAMESPACE_LABEL: "default"},
                                 "ns/secondary": {NAMESPACE_LABEL: "secondary"}}
    assert policies.to_dict()["segments"] == {"ns/default": {NAMESPACE_LABEL: "default"},
                                              "ns/secondary": {NAMESPACE_LABEL: "secondary"}}
    assert named.version == "v7"
    assert named.allowed_ports(pod("a"), pod("b"), {}) == ALL


def test_it_evaluates_pods_and_namespaces_read_by_the_kubectl_inventory() -> None:
    listing = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": "default", "labels": {"kubernetes.io/metadata.name": "default"}}},
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": "monitoring", "labels": {"role": "monitoring"}}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "api-0", "namespace": "default", "labels": {"app": "apiserver"}},
         "spec": {"nodeName": "node-01", "containers": [{"name": "api", "ports": [
             {"name": "api-port", "containerPort": 5000, "protocol": "TCP"}]}]},
         "status": {"phase": "Running", "podIP": "10.8.0.5"}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "prom-0", "namespace": "monitoring"},
         "spec": {"nodeName": "node-02"}, "status": {"phase": "Running", "podIP": "10.8.1.7"}},
    ]}
    inventory = parse_inventory(json.dumps(listing), "cluster.json")
    api, prom = inventory.workloads
    policies = parse_network_policies("""
kind: NetworkPolicy
metadata: {name: api-from-monitoring}
spec:
  podSelector: {matchLabels: {app: apiserver}}
  ingress:
    - from: [{namespaceSelector: {matchLabels: {role: monitoring}}}]
      ports: [{port: api-port}]
""", "np.yaml")

    assert policies.allowed_ports(prom, api, inventory.namespaces) == (tcp(5000),)
    assert policies.allowed_ports(prom, api, {}) == DENIED


# Malformed policies

POLICY = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
          "metadata": {"name": "p", "namespace": "default"}}


def spec_of(**spec: object) -> dict[str, object]:
    return {**POLICY, "spec": spec}


@pytest.mark.parametrize(("spec", "path", "reason"), [
    ({"ingress": [{"ports": [{"port": 80}, {"port": 9000, "endPort": 8000}]}]},
     "spec.ingress[0].ports[1].endPort", "expected a port from 9000"),
    ({"ingress": [{"ports": [{"port": "http", "endPort": 8000}]}]},
     "spec.ingress[0].ports[0].endPort", "numeric port"),
    ({"ingress": [{"ports": [{"endPort": 8000}]}]},
     "spec.ingress[0].ports[0].endPort", "numeric port"),
    ({"ingress": [{"ports": [{"protocol": "ICMP"}]}]},
     "spec.ingress[0].ports[0].protocol", "TCP, UDP or SCTP"),
    ({"egress": [{"ports": [{"port": 70000}]}]}, "spec.egress[0].ports[0].port", "1-65535"),
    ({"egress": [{"ports": [{"port": "80"}]}]}, "spec.egress[0].ports[0].port", "not a port"),
    ({"ingress": [{"from": [{}]}]}, "spec.ingress[0].from[0]", "a peer names"),
    ({"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]},
     "spec.ingress[0].from[0].ipBlock", "cannot be combined"),
    ({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]},
     "spec.egress[0].to[0].ipBlock.cidr", "not a CIDR"),
    ({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24"]}}]}]},
     "spec.egress[0].to[0].ipBlock.except[0]", "not inside"),
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Has"}]}},
     "spec.podSelector.matchExpressions[0].operator", "expected one of"),
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
     "spec.podSelector.matchExpressions[0].values", "needs values"),
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Exists",
                                            "values": ["x"]}]}},
     "spec.podSelector.matchExpressions[0].values", "takes no values"),
    ({"podSelector": {"matchLabels": {"tier": 1}}}, "spec.podSelector.matchLabels.tier",
     "quote it"),
    ({"policyTypes": ["ingress"]}, "spec.policyTypes[0]", "Ingress or Egress"),
    ({"ingres": []}, "spec.ingres", "unknown field"),
    ({"ingress": {"from": []}}, "spec.ingress", "expected a list"),
])
def test_it_names_the_field_of_a_malformed_policy(spec: dict[str, object], path: str,
                                                  reason: str) -> None:
    listing = {"kind": "List", "items": [spec_of(), spec_of(), spec_of(**spec)]}
    listing["items"][0]["metadata"] = {"name": "first"}  # type: ignore[index]
    listing["items"][1]["metadata"] = {"name": "second"}  # type: ignore[index]

    with pytest.raises(IntentError) as caught:
        parse_network_policies(listing, "policies.json")

    assert caught.value.filename == "policies.json"
    assert caught.value.path == f"items[2].{path}"
    assert reason in caught.value.reason


def test_it_names_the_document_of_a_malformed_policy_in_multi_document_yaml() -> None:
    text = yaml.safe_dump_all([spec_of(), {**spec_of(ingress=[{"ports": [{"port": 0}]}]),
                                           "metadata": {"name": "q"}}])

    with pytest.raises(IntentError) as caught:
        parse_network_policies(text, "policies.yaml")

    assert caught.value.path == "documents[1].spec.ingress[0].ports[0].port"


@pytest.mark.parametrize(("data", "path", "reason"), [
    ({**POLICY, "kind": "Pod"}, "kind", "expected NetworkPolicy"),
    ({**POLICY, "metadata": {"namespace": "default"}}, "metadata.name", "non-empty"),
    ([spec_of(), spec_of()], "[1].metadata.name", "given twice"),
    ({"kind": "List", "items": {}}, "items", "expected a list"),
    ("kind: NetworkPolicy\n\tspec: {}\n", "(top)", "line 2"),
    ('{"kind": "NetworkPolicy",', "(top)", "invalid JSON"),
])
def test_it_refuses_what_is_not_a_network_policy(data: object, path: str, reason: str) -> None:
    with pytest.raises(IntentError) as caught:
        parse_network_policies(data, "np")

    assert caught.value.path == path
    assert reason in caught.value.reason
