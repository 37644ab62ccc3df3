"""Service matrices of hand-made rule sets whose answers are known."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webapp.engine.matrix.ipassmt import parse_ipassmt
from webapp.engine.matrix.service import MatrixRequest, service_matrix
from webapp.engine.values import ValueParseError

DATA = Path(__file__).parent.parent / "data" / "matrix"


def _save(*rules: str, policy: str = "DROP", chains: tuple[str, ...] = ()) -> str:
    head = ["*filter", f":INPUT {policy} [0:0]", ":FORWARD ACCEPT [0:0]",
            ":OUTPUT ACCEPT [0:0]"]
    head.extend(f":{name} - [0:0]" for name in chains)
    return "\n".join(head + list(rules) + ["COMMIT", ""])


def _matrix(text: str, dport: int = 22, ipassmt: str | None = None, v6: bool = False,
            chain: str = "INPUT") -> dict:
    request = MatrixRequest(chain, "tcp", dport, ipassmt=ipassmt)
    if v6:
        return service_matrix(request, ip6tables=text).to_dict()
    return service_matrix(request, iptables=text).to_dict()


def test_it_puts_everything_in_one_class_when_nothing_is_accepted() -> None:
    assert _matrix(_save()) == {"classes": {"0.0.0.0": ["0.0.0.0-255.255.255.255"]},
                                "edges": []}


def test_it_splits_sources_and_destinations_of_an_accept_rule() -> None:
    text = _save("-A INPUT -s 10.0.0.0/8 -d 10.1.1.1/32 -p tcp -m tcp --dport 22 -j ACCEPT")
    result = _matrix(text)
    # 10.1.1.1 is a source of 10/8 too: it reaches itself, and so is a class of its own.
    assert result["edges"] == [["10.0.0.0", "10.1.1.1"], ["10.1.1.1", "10.1.1.1"]]
    assert result["classes"] == {
        "0.0.0.0": ["0.0.0.0-9.255.255.255", "11.0.0.0-255.255.255.255"],
        "10.0.0.0": ["10.0.0.0-10.1.1.0", "10.1.1.2-10.255.255.255"],
        "10.1.1.1": ["10.1.1.1-10.1.1.1"]}


def test_it_ignores_rules_for_another_port() -> None:
    text = _save("-A INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 80 -j ACCEPT")
    assert _matrix(text)["edges"] == []


def test_it_counts_reject_as_drop_and_takes_the_first_match() -> None:
    text = _save("-A INPUT -s 10.0.0.0/8 -j REJECT",
                 "-A INPUT -j ACCEPT")
    result = _matrix(text)
    assert result["classes"] == {"0.0.0.0": ["0.0.0.0-9.255.255.255", "11.0.0.0-255.255.255.255"],
                                 "10.0.0.0": ["10.0.0.0-10.255.255.255"]}
    assert result["edges"] == [["0.0.0.0", "0.0.0.0"], ["0.0.0.0", "10.0.0.0"]]


def test_it_reads_the_packet_as_a_new_syn() -> None:
    text = _save("-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT",
                 "-A INPUT -s 10.0.0.0/8 -p tcp -m tcp ! --syn -j ACCEPT",
                 "-A INPUT -s 11.0.0.0/8 -m state --state NEW -p tcp --syn -j ACCEPT")
    assert _matrix(text)["edges"] == [["11.0.0.0", "0.0.0.0"], ["11.0.0.0", "11.0.0.0"]]


def test_it_takes_an_unknown_match_as_true_in_an_accept_rule() -> None:
    text = _save("-A INPUT -s 10.0.0.0/8 -m recent --rcheck -j ACCEPT")
    assert ["10.0.0.0", "0.0.0.0"] in _matrix(text)["edges"]


def test_it_takes_an_unknown_match_as_false_in_a_drop_rule() -> None:
    text = _save("-A INPUT -s 10.0.0.0/8 -m recent --rcheck -j DROP", "-A INPUT -j ACCEPT")
    assert _matrix(text)["classes"] == {"0.0.0.0": ["0.0.0.0-255.255.255.255"]}


def test_it_follows_user_chains_return_and_goto() -> None:
    text = _save("-A INPUT -s 10.0.0.0/8 -j CHECK",
                 "-A INPUT -s 11.0.0.0/8 -g CHECK",
                 "-A INPUT -s 10.0.0.0/7 -j ACCEPT",
                 "-A CHECK -d 1.1.1.1/32 -j RETURN",
                 "-A CHECK -j ACCEPT", chains=("CHECK",))
    result = _matrix(text)
    # 10/8 to 1.1.1.1 returns and meets the accept for 10/7; 11/8 was sent by goto: its return
    # ends INPUT at the DROP policy.
    by_source = {}
    for source, target in result["edges"]:
        by_source.setdefault(source, set()).add(target)
    classes = result["classes"]
    assert "11.0.0.0" in classes and "1.1.1.1" in classes
    assert "1.1.1.1" not in by_source["11.0.0.0"]
    assert "1.1.1.1" in by_source["10.0.0.0"]


def test_it_decides_an_unknown_jump_condition_once() -> None:
    # fffuu unfolds `-m limit -j X` into `-m limit -s A -j DROP; -m limit -j ACCEPT` and then
    # drops the limit in each rule: A would be accepted. Taken or not taken, A never is here.
    text = _save("-A INPUT -m limit --limit 1/s -j X",
                 "-A X -s 10.0.0.0/8 -j DROP",
                 "-A X -j ACCEPT", chains=("X",))
    result = _matrix(text)
    assert result["edges"] == [["0.0.0.0", "0.0.0.0"], ["0.0.0.0", "10.0.0.0"]]


def test_it_reads_interfaces_exactly_with_a_complete_disjoint_assumption() -> None:
    text = _save("-A INPUT -i eth0 -j ACCEPT", "-A INPUT -i lo -j ACCEPT")
    ipassmt = "eth0 = [10.0.0.0/8]\nlo = [127.0.0.0/8]\n"
    result = _matrix(text, ipassmt=ipassmt)
    # Both interfaces' sources reach everything: one class.
    assert result["classes"]["10.0.0.0"] == ["10.0.0.0-10.255.255.255",
                                             "127.0.0.0-127.255.255.255"]
    assert {a for a, _ in result["edges"]} == {"10.0.0.0"}


def test_it_reads_a_drop_on_an_interface_exactly_when_the_assumption_allows() -> None:
    text = _save("-A INPUT -i eth0 -j DROP", policy="ACCEPT")
    exact = _matrix(text, ipassmt="eth0 = [10.0.0.0/8]")
    assert "10.0.0.0" not in {a for a, _ in exact["edges"]}
    # eth1 is not listed: the assumption is incomplete and -i eth0 cannot be decided.
    text = _save("-A INPUT -i eth0 -j DROP", "-A INPUT -i eth1 -j DROP", policy="ACCEPT")
    loose = _matrix(text, ipassmt="eth0 = [10.0.0.0/8]")
    assert loose["classes"] == {"0.0.0.0": ["0.0.0.0-255.255.255.255"]}


def test_it_keeps_an_interface_false_outside_its_ranges_when_undecidable() -> None:
    text = _save("-A INPUT -i eth0 -j ACCEPT", "-A INPUT -i eth9 -s 192.168.0.0/16 -j ACCEPT")
    result = _matrix(text, ipassmt="eth0 = [10.0.0.0/8]\neth1 = [10.0.0.0/16]")
    # eth0 and eth1 overlap: -i eth0 may hold inside 10/8 only; eth9 is not listed: it may
    # hold anywhere, and -s narrows it to 192.168/16.
    assert result["classes"]["10.0.0.0"] == ["10.0.0.0-10.255.255.255",
                                             "192.168.0.0-192.168.255.255"]
    assert {a for a, _ in result["edges"]} == {"10.0.0.0"}


def test_it_reads_all_but_those_ips() -> None:
    text = _save("-A INPUT -i wan -j DROP", "-A INPUT -i lan -j ACCEPT")
    ipassmt = "lan = [192.168.0.0-192.168.255.255]\nwan = all_but_those_ips [192.168.0.0/16]"
    result = _matrix(text, ipassmt=ipassmt)
    assert result["edges"] == [["192.168.0.0", "0.0.0.0"], ["192.168.0.0", "192.168.0.0"]]


def test_it_computes_ipv6_with_its_own_space() -> None:
    text = _save("-A INPUT -s 2001:db8::/32 -p tcp --dport 22 -j ACCEPT",
                 "-A INPUT -i lo -j ACCEPT")
    result = _matrix(text, v6=True)
    assert result["classes"]["::1"] == ["::1-::1",
                                        "2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"]
    assert result["edges"] == [["::1", "::"], ["::1", "::1"]]


def test_it_gives_both_families_with_distinct_names() -> None:
    request = MatrixRequest("INPUT", "tcp", 22)
    result = service_matrix(request, iptables=_save(), ip6tables=_save()).to_dict()
    assert list(result["classes"]) == ["0.0.0.0", "::"]


def test_it_reads_ipset_members_for_the_fixed_port() -> None:
    sets = ("create admins hash:net family inet\nadd admins 10.0.0.0/8\n"
            "add admins 10.1.0.0/16 nomatch\n"
            "create svc hash:ip,port family inet\nadd svc 192.168.1.1,tcp:22\n"
            "add svc 192.168.1.2,tcp:80\n")
    text = _save("-A INPUT -m set --match-set admins src -m set --match-set svc dst,dst "
                 "-j ACCEPT")
    request = MatrixRequest("INPUT", "tcp", 22)
    result = service_matrix(request, iptables=text, ipset=sets).to_dict()
    assert result["edges"] == [["10.0.0.0", "192.168.1.1"]]
    assert result["classes"]["10.0.0.0"] == ["10.0.0.0-10.0.255.255", "10.2.0.0-10.255.255.255"]


@pytest.mark.parametrize("dport", ["22", "8080", "80"])
def test_it_agrees_with_fffuus_synology_golden_file(dport: str) -> None:
    expected = json.loads((DATA / "synology_2015.expected.json").read_text())[dport]
    text = (DATA / "synology_2015.iptables-save").read_text()
    assert _matrix(text, dport=int(dport)) == expected


@pytest.mark.parametrize("dport", ["22", "80"])
def test_it_agrees_with_fffuus_sqrl_spoofing_golden_file(dport: str) -> None:
    # fffuu --table raw --chain PREROUTING --ipassmt ipassmt_sqrl: vpriv, vshit, vocb and lua
    # are assumed to carry every address, so no -i is decided and no spoofing drop applies.
    expected = json.loads((DATA / "sqrl_2015_aug.expected.json").read_text())[dport]
    request = MatrixRequest("PREROUTING", "tcp", int(dport), table="raw",
                            ipassmt=(DATA / "sqrl_2015_aug.ipassmt").read_text())
    text = (DATA / "sqrl_2015_aug.iptables-save").read_text()
    assert service_matrix(request, iptables=text).to_dict() == expected


def test_it_reads_the_sqrl_spoofing_protection_exactly_with_a_disjoint_assumption() -> None:
    # Only the interfaces raw PREROUTING names, pairwise disjoint: lup's public sources may not
    # reach private destinations; private sources arrive on no lup and reach everything.
    ipassmt = ("ldit = [10.13.42.136/29]\nlmd = [10.13.42.128/29]\nloben = [10.13.42.144/28]\n"
               "wg = [10.13.42.176/28]\nwt = [10.13.42.160/28]\n"
               "lup = all_but_those_ips [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]\n")
    request = MatrixRequest("PREROUTING", "tcp", 22, table="raw", ipassmt=ipassmt)
    text = (DATA / "sqrl_2015_aug.iptables-save").read_text()
    result = service_matrix(request, iptables=text).to_dict()
    assert result["classes"]["10.0.0.0"] == ["10.0.0.0-10.255.255.255",
                                             "172.16.0.0-172.31.255.255",
                                             "192.168.0.0-192.168.255.255"]
    assert result["edges"] == [["0.0.0.0", "0.0.0.0"], ["10.0.0.0", "0.0.0.0"],
                               ["10.0.0.0", "10.0.0.0"]]


def test_it_reads_an_ipassmt_list_over_several_lines() -> None:
    assumption = parse_ipassmt("# uplink\nlup = all_but_those_ips [\n  10.0.0.0/8,  # lan\n"
                               "  192.168.0.0/16\n]\nlo = [127.0.0.0/8]\n", 4)
    assert assumption.ranges["lup"] == [(0, 0x09FFFFFF), (0x0B000000, 0xC0A7FFFF),
                                        (0xC0A90000, 0xFFFFFFFF)]
    assert assumption.ranges["lo"] == [(0x7F000000, 0x7FFFFFFF)]
    with pytest.raises(ValueParseError, match="<ipassmt>:2: expected"):
        parse_ipassmt("lo = [127.0.0.0/8]\nlup = [\n  10.0.0.0/8\n", 4)
