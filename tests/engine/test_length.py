"""A packet's length: `-m length` and nft's `meta length`, `ip length`, `ip6 length` and
`udp length` are answered exactly when a probe gives its IP total length, and depend on it
when it does not."""

import json

import pytest

from tests.engine.conftest import ask, host_from
from tests.engine.test_cli import segscope, write_rules
from tests.engine.test_nft_eval import ACCEPT, chain, dump, match, meta, payload, table
from tests.engine.test_nft_eval import ask as ask_nft
from webapp.engine.host import load_host
from webapp.engine.packet import Packet
from webapp.engine.values import ValueParseError

# Small DNS answers pass; anything as long as a fragment-sized datagram is dropped.
SMALL_DNS = ("-A INPUT -p udp -m udp --dport 53 -m length --length 0:512 -j ACCEPT\n"
             "-A INPUT -p udp -m udp --dport 53 -j DROP\n")


def test_it_leaves_a_length_match_depending_on_the_length_when_the_probe_gives_none():
    host = host_from(SMALL_DNS)

    result = ask(host, proto="udp", dport=53)

    assert result.verdict == "UNKNOWN"
    assert {o.verdict for o in result.possible} == {"ACCEPT", "DROP"}
    assert result.depends_on == ("filter INPUT rule 1 (-m length --length 0:512)",)


def test_it_compares_the_ip_total_length_with_the_range_at_its_edges():
    host = host_from(SMALL_DNS)

    answers = [ask(host, proto="udp", dport=53, length=n) for n in (28, 512, 513)]

    assert [(a.verdict, a.decided_by.rule_number) for a in answers] == [
        ("ACCEPT", 1), ("ACCEPT", 1), ("DROP", 2)]


def test_a_negated_length_and_a_single_length_match_as_the_kernel_does():
    host = host_from("-A INPUT -p tcp -m length ! --length 41:65535 -j ACCEPT\n"
                     "-A INPUT -p tcp -m length --length 60 -j REJECT\n")

    assert ask(host, length=40).verdict == "ACCEPT"
    assert ask(host, length=60).verdict == "REJECT"
    assert ask(host, length=61).verdict == "DROP"


def test_an_ipv6_length_counts_the_40_byte_header_as_xt_length_does():
    # xt_length's IPv6 match adds the header to the payload length: a bare SYN is 60 bytes.
    host = load_host(ip6tables="*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n"
                               ":OUTPUT ACCEPT [0:0]\n"
                               "-A INPUT -p tcp -m length --length 60 -j ACCEPT\nCOMMIT\n")
    syn = Packet(src="2001:db8::7", dst="2001:db8::1", proto="tcp", sport=40000, dport=22,
                 length=60)

    assert host.explain(syn).verdict == "ACCEPT"


def test_the_length_does_not_change_on_the_way_through_nat():
    nat = ("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
           ":POSTROUTING ACCEPT [0:0]\n"
           "-A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.10:22\n"
           "COMMIT\n")
    host = host_from("-A INPUT -m length --length 40 -j ACCEPT\n", tables=nat)

    assert ask(host, dport=8080, length=40).decided_by.rule_number == 1


def test_nft_meta_length_is_the_whole_packet_and_ip6_length_its_payload():
    rules = dump(table("inet", "t", chain("in", [match(meta("length"), 60), ACCEPT],
                                          [match(payload("ip6", "length"), 20), ACCEPT],
                                          hook="input", policy="drop")))
    six = {"src": "2001:db8::7", "dst": "2001:db8::1"}

    assert ask_nft(rules, **six, length=60).decided_by.rule_number == 1
    assert ask_nft(rules, length=60).decided_by.rule_number == 1
    assert ask_nft(rules, length=61).verdict == "DROP"
    assert ask_nft(rules, **six).verdict == "UNKNOWN"


def test_nft_ip_length_is_the_total_length_and_udp_length_what_follows_the_ip_header():
    rules = dump(table("ip", "t", chain("in", [match(payload("ip", "length"),
                                                     {"range": [20, 40]}), ACCEPT],
                                          [match(payload("udp", "length"), 492), ACCEPT],
                                          hook="input", policy="drop")))

    assert ask_nft(rules, length=40).decided_by.rule_number == 1
    assert ask_nft(rules, proto="udp", dport=53, length=512).decided_by.rule_number == 2
    assert ask_nft(rules, proto="udp", dport=53, length=513).verdict == "DROP"


@pytest.mark.parametrize("fields", [
    {"length": 39},  # shorter than an IPv4 and a TCP header
    {"length": 65536},
    {"src": "2001:db8::7", "dst": "2001:db8::1", "proto": "udp", "length": 47},
    {"length": "60"},
    {"length": True},
])
def test_it_refuses_a_length_the_packet_cannot_have(fields):
    with pytest.raises(ValueParseError, match="length"):
        Packet(**{"src": "198.51.100.7", "dst": "192.0.2.10", "proto": "tcp", **fields})


def test_the_cli_takes_length_as_a_probe_field_and_as_a_flag(tmp_path):
    rules = write_rules(tmp_path, "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n"
                                  ":OUTPUT ACCEPT [0:0]\n" + SMALL_DNS + "COMMIT\n")
    probes = [{"id": n, "src": "198.51.100.7", "dst": "192.0.2.1", "proto": "udp",
               "sport": 40000, "dport": 53, "length": n} for n in (100, 1400)]

    lines = segscope("explain", "--iptables-save", rules, "--probes", "-",
                     stdin="".join(json.dumps(p) + "\n" for p in probes))
    one = segscope("explain", "--iptables-save", rules, "--src", "198.51.100.7", "--dst",
                   "192.0.2.1", "--proto", "udp", "--dport", "53", "--length", "100", "--json")

    assert [json.loads(line)["verdict"] for line in lines.stdout.splitlines()] == [
        "ACCEPT", "DROP"]
    assert json.loads(one.stdout)["decided_by"]["rule_number"] == 1
