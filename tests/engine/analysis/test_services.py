"""A service address (kube-proxy's cluster IP) reaches each endpoint it is translated to, as
far as the endpoint's host lets the translated connection in."""

from __future__ import annotations

from tests.engine.analysis.fleets import T0, workload
from webapp.engine.analysis.fleet import Fleet, load_host_state
from webapp.engine.analysis.graph import compute_graph

CLIENT = workload("client-1", "n1", "10.1.0.1", "client")
WEB_A = workload("web-a", "n2", "10.2.0.5", "web")
WEB_B = workload("web-b", "n3", "10.3.0.6", "web")

KUBE_PROXY = f"""*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-WEB - [0:0]
:KUBE-SEP-A - [0:0]
:KUBE-SEP-B - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-WEB
-A KUBE-SVC-WEB -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-A
-A KUBE-SVC-WEB -j KUBE-SEP-B
-A KUBE-SEP-A -p tcp -m tcp -j DNAT --to-destination 10.2.0.5:8080
-A KUBE-SEP-B -p tcp -m tcp -j DNAT --to-destination 10.3.0.6:8080
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -i {CLIENT.interface} -j ACCEPT
COMMIT
"""


def ingress(workload_interface: str, port: int) -> str:
    return ("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            f"-A FORWARD -o {workload_interface} -p tcp -m tcp --dport {port} -j ACCEPT\n"
            "COMMIT\n")


def test_a_cluster_ip_reaches_the_endpoints_whose_host_lets_it_in() -> None:
    fleet = Fleet({
        "n1": load_host_state("n1", {"iptables-save": KUBE_PROXY}, T0),
        "n2": load_host_state("n2", {"iptables-save": ingress(WEB_A.interface, 8080)}, T0),
        "n3": load_host_state("n3", {"iptables-save": ingress(WEB_B.interface, 9999)}, T0),
    }, (CLIENT, WEB_A, WEB_B))
    graph = compute_graph(fleet)

    # n1 lets the client out directly too: the service adds no port web-a lacked.
    pair = graph.pairs[("client-1", "web-a")]
    assert pair.allowed.texts() == ["tcp/8080"]
    assert {e.note for e, _ in pair.evidence()} == {None}
    # web-b's host lets only 9999 in: the service's 8080 does not get through.
    assert graph.pairs[("client-1", "web-b")].allowed.texts() == ["tcp/9999"]


def test_the_service_is_what_opens_the_pair_when_direct_traffic_is_dropped() -> None:
    only_service = KUBE_PROXY.replace(
        f"-A FORWARD -i {CLIENT.interface} -j ACCEPT",
        "-A FORWARD -m conntrack --ctstate DNAT -j ACCEPT")
    fleet = Fleet({
        "n1": load_host_state("n1", {"iptables-save": only_service}, T0),
        "n2": load_host_state("n2", {"iptables-save": ingress(WEB_A.interface, 8080)}, T0),
        "n3": load_host_state("n3", {"iptables-save": ingress(WEB_B.interface, 8080)}, T0),
    }, (CLIENT, WEB_A, WEB_B))
    graph = compute_graph(fleet)

    for name in ("web-a", "web-b"):
        pair = graph.pairs[("client-1", name)]
        assert pair.allowed.texts() == ["tcp/8080"]
        n1 = [e for e, _ in pair.evidence() if e.host == "n1"]
        assert n1 and "through service 10.96.0.20:80" in (n1[0].note or "")


def test_updating_several_hosts_at_once_agrees_with_a_full_run() -> None:
    only_service = KUBE_PROXY.replace(
        f"-A FORWARD -i {CLIENT.interface} -j ACCEPT",
        "-A FORWARD -m conntrack --ctstate DNAT -j ACCEPT")

    def fleet(web_b_port: int, client_rules: str) -> Fleet:
        return Fleet({
            "n1": load_host_state("n1", {"iptables-save": client_rules}, T0),
            "n2": load_host_state("n2", {"iptables-save": ingress(WEB_A.interface, 8080)}, T0),
            "n3": load_host_state("n3", {"iptables-save": ingress(WEB_B.interface, web_b_port)},
                                  T0),
        }, (CLIENT, WEB_A, WEB_B))

    graph = compute_graph(fleet(9999, KUBE_PROXY))
    after = fleet(8080, only_service)  # the client's host and web-b's host both changed

    graph.update_hosts([after.hosts["n1"], after.hosts["n3"]])

    full = compute_graph(after)
    assert {k: p.allowed.texts() for k, p in graph.pairs.items()} == {
        k: p.allowed.texts() for k, p in full.pairs.items()}
    # Only the service opens client-1 to web-b now: added once both hosts were updated.
    assert graph.pairs[("client-1", "web-b")].allowed.texts() == ["tcp/8080"]
    assert [e.note for e, _ in graph.pairs[("client-1", "web-b")].evidence()] == [
        e.note for e, _ in full.pairs[("client-1", "web-b")].evidence()]
