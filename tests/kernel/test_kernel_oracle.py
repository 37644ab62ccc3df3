"""The lab's oracle on rule sets whose answer is known, and kernel facts the engine must model."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.lab.netns import Lab
from collectors.lab.probes import Probe, build_packet, tcp_flag_bits
from tests.kernel.differential import kernel_verdicts
from webapp.engine.host import load_host
from webapp.engine.packet import Packet

pytestmark = pytest.mark.kernel

DATA = Path(__file__).parent / "data"
LAB_RULES = (DATA / "lab-rules.iptables").read_text()


def tcp(ip_id: int, src: str, dst: str, dport: int, flags: str = "SYN") -> Probe:
    return Probe(ip_id=ip_id, src=src, dst=dst, proto="tcp", sport=40000 + ip_id, dport=dport,
                 tcp_flags=tcp_flag_bits(flags))


def rule(table: str, chain: str, number: int) -> dict[str, object]:
    return {"table": table, "chain": chain, "rule_number": number}


def policy(table: str, chain: str) -> dict[str, object]:
    return {"table": table, "chain": chain, "policy": True}


def test_the_oracle_names_the_rule_in_a_user_chain_that_rejected(lab: Lab) -> None:
    verdicts = kernel_verdicts(lab, LAB_RULES, [("eth0", tcp(1, "10.9.1.1", "192.0.2.5", 22))])

    assert (verdicts[1].verdict, verdicts[1].decided_by) == ("REJECT", rule("filter", "ssh", 1))


def test_the_oracle_falls_back_to_the_policy_after_a_user_chain_returns(lab: Lab) -> None:
    verdicts = kernel_verdicts(lab, LAB_RULES, [("eth0", tcp(1, "10.9.1.1", "192.0.2.5", 24))])

    assert (verdicts[1].verdict, verdicts[1].decided_by) == ("DROP", policy("filter", "INPUT"))


def test_the_oracle_follows_a_goto_after_dnat_and_reports_the_translation(lab: Lab) -> None:
    verdicts = kernel_verdicts(lab, LAB_RULES, [("eth0", tcp(1, "10.2.1.1", "192.0.2.5", 8080))])

    assert verdicts[1].verdict == "ACCEPT"
    assert verdicts[1].decided_by == rule("filter", "web", 1)
    assert verdicts[1].nat == {"dst": "192.0.2.9", "dport": 80}


def test_the_oracle_sees_a_forwarded_packet_accepted_in_forward(lab: Lab) -> None:
    verdicts = kernel_verdicts(
        lab, LAB_RULES, [("cali1234abcd", tcp(1, "10.2.1.1", "198.51.100.5", 443))])

    assert (verdicts[1].verdict, verdicts[1].hook) == ("ACCEPT", "FORWARD")
    assert verdicts[1].decided_by == rule("filter", "FORWARD", 1)


def test_an_accept_in_mangle_input_decides_when_filter_accepts_by_policy(lab: Lab) -> None:
    rules = ("*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
             ":OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A INPUT -p tcp -j ACCEPT\n"
             "COMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
             "-A INPUT -p udp -j DROP\nCOMMIT\n")

    verdicts = kernel_verdicts(lab, rules, [("eth0", tcp(1, "10.2.1.1", "192.0.2.5", 80))])

    assert verdicts[1].decided_by == rule("mangle", "INPUT", 1)


def test_an_echo_reply_nobody_asked_for_is_invalid_and_skips_nat(lab: Lab) -> None:
    rules = ("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
             ":POSTROUTING ACCEPT [0:0]\n-A PREROUTING -p icmp -j DNAT --to-destination "
             "192.0.2.9\nCOMMIT\n*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n"
             ":OUTPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate INVALID -j ACCEPT\nCOMMIT\n")
    reply = Probe(ip_id=1, src="10.8.1.1", dst="192.0.2.5", proto="icmp", icmp_type=0)

    verdicts = kernel_verdicts(lab, rules, [("eth0", reply)])

    assert verdicts[1].decided_by == rule("filter", "INPUT", 1)
    assert verdicts[1].nat is None


def test_a_bare_ack_starts_a_new_connection_and_an_inserted_one_is_established(
        lab: Lab) -> None:
    rules = ("*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
             "-A INPUT -m conntrack --ctstate NEW -j ACCEPT\n"
             "-A INPUT -m conntrack --ctstate ESTABLISHED -j REJECT\nCOMMIT\n")
    loose, known = tcp(1, "10.5.0.2", "192.0.2.5", 443, "ACK"), tcp(2, "10.6.0.1", "192.0.2.5",
                                                                    443, "ACK")

    verdicts = kernel_verdicts(lab, rules, [("eth0", loose), ("eth0", known)],
                               connections=(known,))

    assert verdicts[1].decided_by == rule("filter", "INPUT", 1)
    assert verdicts[2].decided_by == rule("filter", "INPUT", 2)


def test_a_set_lookup_of_the_outgoing_interface_never_matches_on_input(lab: Lab) -> None:
    # The kernel fills the interface from the hook: INPUT has no outgoing one, so hash:net,iface
    # with `dst` for the interface is never a member there, and its negation always matches.
    ipset = "create ifs hash:net,iface family inet\nadd ifs 10.0.0.0/8,eth1\n"
    rules = ("*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
             "-A INPUT -p tcp -m set --match-set ifs src,dst -j REJECT\n"
             "-A INPUT -p tcp -m set ! --match-set ifs src,dst -j ACCEPT\nCOMMIT\n")

    verdicts = kernel_verdicts(lab, rules, [("eth0", tcp(1, "10.1.1.1", "192.0.2.5", 80))],
                               ipset=ipset)

    assert verdicts[1].decided_by == rule("filter", "INPUT", 2)


def test_connmark_does_nothing_to_a_packet_without_a_connection(lab: Lab) -> None:
    rules = ("*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
             ":OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
             "-A PREROUTING -j CONNMARK --set-mark 0x1/0xff\nCOMMIT\n"
             "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
             "-A INPUT -m connmark --mark 0x1/0xff -j DROP\nCOMMIT\n")
    reply = Probe(ip_id=1, src="10.8.1.1", dst="192.0.2.5", proto="icmp", icmp_type=0)
    request = Probe(ip_id=2, src="10.8.1.1", dst="192.0.2.5", proto="icmp", icmp_type=8)

    verdicts = kernel_verdicts(lab, rules, [("eth0", reply), ("eth0", request)])

    assert verdicts[1].decided_by == policy("filter", "INPUT")
    assert verdicts[2].decided_by == rule("filter", "INPUT", 1)


def test_a_length_match_compares_the_ip_total_length_as_explain_does(lab: Lab) -> None:
    # The lab's probes are 31 (udp), 36 (icmp) and 40 (tcp) bytes long, headers included.
    rules = ("*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
             "-A INPUT -p udp -m length --length 0:30 -j REJECT\n"
             "-A INPUT -p udp -m length --length 31 -j ACCEPT\n"
             "-A INPUT -p tcp -m length ! --length 0:39 -j REJECT\n"
             "-A INPUT -p icmp -m length --length 36:40 -j ACCEPT\nCOMMIT\n")
    probes = [Probe(ip_id=1, src="10.9.1.1", dst="192.0.2.5", proto="udp", sport=40001,
                    dport=53),
              tcp(2, "10.9.1.1", "192.0.2.5", 22),
              Probe(ip_id=3, src="10.9.1.1", dst="192.0.2.5", proto="icmp", icmp_type=8)]
    host = load_host(iptables=rules)

    verdicts = kernel_verdicts(lab, rules, [("eth0", probe) for probe in probes])

    assert [verdicts[p.ip_id].decided_by for p in probes] == [
        rule("filter", "INPUT", 2), rule("filter", "INPUT", 3), rule("filter", "INPUT", 4)]
    for probe in probes:
        packet = Packet(src=probe.src, dst=probe.dst, proto=probe.proto,
                        sport=probe.sport or None, dport=probe.dport or None,
                        length=len(build_packet(probe)))
        explained = host.explain(packet, "INPUT")
        decided = explained.decided_by.to_dict() if explained.decided_by else {}
        assert (explained.verdict, {k: decided.get(k) for k in ("table", "chain",
                                                                "rule_number")}) == (
            verdicts[probe.ip_id].verdict, verdicts[probe.ip_id].decided_by)
