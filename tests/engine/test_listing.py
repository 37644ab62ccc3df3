"""A host's rules as `iptables -L -v -x -n --line-numbers` lists them, with counter changes."""

from __future__ import annotations

from collectors.iptables import parse_iptables_save
from webapp.engine.listing import ListedChain, list_ruleset

ALLOW = ("[1:60] -A seg-in-cali1 -p tcp -m tcp --dport 5432 -m set --match-set seg-payments src "
         '-m comment --comment "allow payments -> ledger" -j ACCEPT')
BEFORE = f"""*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [3:180]
:OUTPUT ACCEPT [0:0]
:seg-in-cali1 - [0:0]
[10:600] -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
[4:240] -A FORWARD -o cali1 -j seg-in-cali1
{ALLOW}
[3:180] -A seg-in-cali1 -j DROP
COMMIT
"""
AFTER = f"""*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [3:180]
:OUTPUT ACCEPT [0:0]
:seg-in-cali1 - [0:0]
[16:960] -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
[2:120] -A FORWARD ! -s 10.0.0.0/8 -i eth0 -p udp -m multiport --dports 53,123 -j ACCEPT
[6:360] -A FORWARD -o cali1 -j seg-in-cali1
{ALLOW}
[5:300] -A seg-in-cali1 -j DROP
COMMIT
"""


def chains(before: str | None = BEFORE) -> dict[str, ListedChain]:
    ruleset = parse_iptables_save(AFTER, "iptables-save")
    earlier = parse_iptables_save(before, "iptables-save") if before else None
    return {c.name: c for c in list_ruleset(ruleset, "ipv4", earlier)}


def test_it_heads_chains_as_iptables_does() -> None:
    listed = chains()

    assert listed["FORWARD"].header == "Chain FORWARD (policy DROP 3 packets, 180 bytes)"
    assert listed["seg-in-cali1"].header == "Chain seg-in-cali1 (1 references)"


def test_it_fills_the_columns_and_words_the_matches() -> None:
    first, dns, jump = chains()["FORWARD"].rules

    assert (dns.number, dns.target, dns.prot, dns.opt, dns.in_iface, dns.out_iface,
            dns.source, dns.destination) == (2, "ACCEPT", "udp", "--", "eth0", "*",
                                             "!10.0.0.0/8", "0.0.0.0/0")
    assert dns.extra == "multiport dports 53,123"
    assert first.extra == "ctstate RELATED,ESTABLISHED"
    assert jump.target == "seg-in-cali1" and jump.out_iface == "cali1"
    allow = chains()["seg-in-cali1"].rules[0]
    assert allow.extra == ("tcp dpt:5432 match-set seg-payments src "
                           "/* allow payments -> ledger */")


def test_it_gives_each_rules_counter_change_matched_by_its_text() -> None:
    first, dns, jump = chains()["FORWARD"].rules
    allow, drop = chains()["seg-in-cali1"].rules

    assert (first.packets_delta, first.bytes_delta) == (6, 360)
    assert dns.packets_delta is None  # a rule the earlier dump did not hold
    assert jump.packets_delta == 2  # moved from position 2 to 3, same rule
    assert (allow.packets_delta, drop.packets_delta) == (0, 2)


def test_without_an_earlier_dump_there_is_no_change() -> None:
    assert all(r.packets_delta is None for r in chains(None)["FORWARD"].rules)
