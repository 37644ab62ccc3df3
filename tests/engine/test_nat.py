"""NAT is stated only as far as the kernel's choice is known: ports the kernel picks are null,
and where an unknown condition picks the translation (a kube-proxy service choosing an
endpoint at random) each possibility carries its own."""

from pathlib import Path

from tests.engine.conftest import ask, host_from
from tests.engine.test_nft_eval import ACCEPT, chain, dump, match, payload, table
from tests.engine.test_nft_eval import ask as ask_nft
from webapp.engine.host import load_host
from webapp.engine.packet import Packet

# What kube-proxy (iptables mode) writes for one ClusterIP service, default/web:http at
# 10.96.0.20:80, with two endpoints; the pod network is 10.2.0.0/16.
KUBE_PROXY = (Path(__file__).parent / "data" / "kube-proxy.iptables-save").read_text()
RANDOM_PICK = "-m statistic --mode random --probability 0.50000000000 "
ENDPOINT_A = {"dst": "10.2.0.5", "dport": 8080}
ENDPOINT_B = {"dst": "10.2.1.6", "dport": 8080}


def kube_node(text: str = KUBE_PROXY):
    return load_host(iptables=text)


def to_the_service(host, src: str):
    return host.explain(Packet(src=src, dst="10.96.0.20", proto="tcp", sport=40000, dport=80,
                               in_iface="cni0", out_iface="eth0"), "FORWARD")


def test_each_endpoint_a_service_may_pick_is_a_possibility_with_its_own_nat():
    # Given a pod talking to the service, which kube-proxy spreads over two endpoints
    result = to_the_service(kube_node(), "10.2.0.9")

    # Then the verdict is known, the endpoint is not: no nat at the top, one per possibility
    assert (result.verdict, result.decided_by.rule_number) == ("ACCEPT", 2)
    assert result.nat is None
    assert [o.nat for o in result.possible] == [ENDPOINT_A, ENDPOINT_B]
    assert "nat" not in result.to_dict()
    assert [o["nat"] for o in result.to_dict()["possible"]] == [ENDPOINT_A, ENDPOINT_B]
    assert result.possible[0].assuming == (
        "nat KUBE-SVC-LOLE4ISW44XBNF3G rule 2 (-m statistic --mode random "
        "--probability 0.50000000000) matches",)


def test_masquerade_states_neither_the_interfaces_address_nor_the_port_it_picks():
    # Given a client outside the cluster, whose traffic kube-proxy marks for masquerading
    result = to_the_service(kube_node(), "198.51.100.7")

    assert (result.verdict, result.decided_by.chain) == ("ACCEPT", "KUBE-FORWARD")
    masqueraded = {"src": None, "sport": None}
    assert [{k: o.nat[k] for k in ("dst", "dport", "src", "sport")} for o in result.possible] \
        == [{**ENDPOINT_A, **masqueraded}, {**ENDPOINT_B, **masqueraded}]
    assert result.possible[0].nat["notes"] == [
        "src: the interface's primary address, not in the dumps", "sport: picked by the kernel"]


def test_a_service_with_one_endpoint_states_its_nat_at_the_top():
    result = to_the_service(kube_node(KUBE_PROXY.replace(RANDOM_PICK, "")), "10.2.0.9")

    assert result.nat == ENDPOINT_A
    assert not result.possible


def test_a_nat_no_unknown_condition_changes_is_stated_even_when_the_verdict_depends():
    # Given one endpoint, and a FORWARD rule Segscope does not model before the pod accept
    text = KUBE_PROXY.replace(RANDOM_PICK, "").replace(
        "-A FORWARD -s 10.2.0.0/16 -j ACCEPT\n",
        "-A FORWARD -s 10.2.0.0/16 -m recent --rcheck --name busy -j DROP\n"
        "-A FORWARD -s 10.2.0.0/16 -j ACCEPT\n")

    result = to_the_service(kube_node(text), "10.2.0.9")

    assert result.verdict == "UNKNOWN"
    assert result.nat == ENDPOINT_A
    assert [o.nat for o in result.possible] == [ENDPOINT_A, ENDPOINT_A]


def postrouting(rule: str):
    nat = ("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
           f":POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o eth0 {rule}\nCOMMIT\n")
    host = host_from("-A FORWARD -j ACCEPT\n", tables=nat)
    return ask(host, "FORWARD", src="10.2.0.9", dst="198.51.100.7", dport=443,
               in_iface="cni0", out_iface="eth0").nat


def test_snat_keeps_the_source_port_unless_told_to_pick_one_at_random():
    assert postrouting("-j SNAT --to-source 192.0.2.1") == {"src": "192.0.2.1",
                                                            "sport": 40000}
    for flag in ("--random", "--random-fully"):
        nat = postrouting(f"-j SNAT --to-source 192.0.2.1 {flag}")
        assert (nat["src"], nat["sport"]) == ("192.0.2.1", None)


def test_snat_to_a_port_range_keeps_a_port_inside_it_and_picks_one_otherwise():
    assert postrouting("-p tcp -j SNAT --to-source 192.0.2.1:30000-50000")["sport"] == 40000
    assert postrouting("-p tcp -j SNAT --to-source 192.0.2.1:1024-2047")["sport"] is None
    assert postrouting("-p tcp -j SNAT --to-source 192.0.2.1:5000 --random")["sport"] == 5000


def test_an_address_the_kernel_picks_from_a_range_is_not_stated():
    nat = postrouting("-j SNAT --to-source 192.0.2.1-192.0.2.4")

    assert (nat["src"], nat["sport"]) == (None, 40000)


def test_masquerade_to_one_port_states_the_port():
    nat = postrouting("-p tcp -j MASQUERADE --to-ports 2000")

    assert (nat["src"], nat["sport"]) == (None, 2000)


def prerouting(rule: str, filter_rules: str = "-A INPUT -j ACCEPT\n"):
    nat = ("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
           f":POSTROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp {rule}\nCOMMIT\n")
    return ask(host_from(filter_rules, tables=nat), dport=8085)


def test_dnat_to_a_port_range_keeps_a_port_inside_it_and_takes_the_first_otherwise():
    assert prerouting("-j DNAT --to-destination 192.0.2.10:8080-8090").nat["dport"] == 8085
    assert prerouting("-j DNAT --to-destination 192.0.2.10:9000-9010").nat["dport"] == 9000
    assert prerouting("-j DNAT --to-destination 192.0.2.10:9000-9010 --random") \
        .nat["dport"] is None


def test_a_port_the_kernel_picks_makes_later_port_matches_depend_on_it():
    result = prerouting("-j DNAT --to-destination 192.0.2.10:9000-9010 --random",
                        "-A INPUT -p tcp -m tcp --dport 9000 -j ACCEPT\n")

    assert result.verdict == "UNKNOWN"
    assert {o.verdict for o in result.possible} == {"ACCEPT", "DROP"}


def nft_postrouting(statement: dict) -> dict:
    rules = dump(table("ip", "n", chain("post", [statement], hook="postrouting", prio=100,
                                        kind="nat")),
                 table("ip", "f", chain("fwd", [match(payload("tcp", "dport"), 443), ACCEPT],
                                        hook="forward", policy="drop")))
    return ask_nft(rules, "FORWARD", src="10.2.0.9", dst="198.51.100.7", dport=443,
                   out_iface="eth0").nat


def test_nft_masquerade_and_random_snat_state_no_source_port():
    assert nft_postrouting({"masquerade": None})["sport"] is None
    assert nft_postrouting({"snat": {"family": "ip", "addr": "192.0.2.1"}})["sport"] == 40000
    for flag in ("random", "fully-random"):
        nat = nft_postrouting({"snat": {"family": "ip", "addr": "192.0.2.1", "flags": [flag]}})
        assert (nat["src"], nat["sport"]) == ("192.0.2.1", None)
