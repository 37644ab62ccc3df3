"""Evaluation semantics of iptables tables, checked one behaviour at a time."""

from tests.engine.conftest import ask, host_from


def decided(explanation):
    return explanation.verdict, explanation.decided_by.to_dict() if explanation.decided_by else None


def test_it_takes_the_first_matching_rule():
    host = host_from("-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n"
                     "-A INPUT -p tcp -j REJECT\n")
    assert decided(ask(host)) == ("ACCEPT", {"table": "filter", "chain": "INPUT",
                                            "rule_number": 1, "line": 5})
    assert ask(host, dport=23).verdict == "REJECT"


def test_it_applies_the_policy_when_nothing_matches():
    host = host_from("-A INPUT -s 10.0.0.0/8 -j ACCEPT\n")
    assert decided(ask(host)) == ("DROP", {"table": "filter", "chain": "INPUT", "policy": True})


def test_it_returns_from_a_user_chain_to_the_next_rule_of_the_caller():
    host = host_from("-A INPUT -j web\n-A INPUT -j ACCEPT\n-A web -s 198.51.100.0/24 -j RETURN\n"
                     "-A web -j DROP\n", chains=":web - [0:0]\n")
    result = ask(host)
    assert decided(result)[1]["rule_number"] == 2
    assert [s.kind for s in result.trace] == ["jump", "return", "rule"]


def test_it_falls_back_to_the_caller_at_the_end_of_a_user_chain():
    host = host_from("-A INPUT -j empty\n-A INPUT -j ACCEPT\n", chains=":empty - [0:0]\n")
    assert ask(host).decided_by.rule_number == 2


def test_goto_does_not_come_back_to_the_chain_that_went_there():
    host = host_from("-A INPUT -g side\n-A INPUT -j ACCEPT\n", chains=":side - [0:0]\n")
    assert decided(ask(host))[1] == {"table": "filter", "chain": "INPUT", "policy": True}


def test_a_return_in_a_builtin_chain_applies_its_policy():
    host = host_from("-A INPUT -j RETURN\n-A INPUT -j ACCEPT\n")
    assert ask(host).decided_by.policy


def test_non_terminating_targets_continue():
    host = host_from('-A INPUT -j LOG --log-prefix "in: "\n-A INPUT -j ACCEPT\n')
    result = ask(host)
    assert result.decided_by.rule_number == 2
    assert result.trace[0].text.endswith('--log-prefix "in: "')


def test_negations_invert_addresses_interfaces_and_ports():
    host = host_from("-A INPUT ! -s 198.51.100.0/24 -j DROP\n"
                     "-A INPUT ! -i eth+ -j DROP\n"
                     "-A INPUT -p tcp -m tcp ! --dport 22 -j DROP\n"
                     "-A INPUT -j ACCEPT\n")
    assert ask(host, in_iface="eth0").verdict == "ACCEPT"
    assert ask(host, in_iface="cali12").decided_by.rule_number == 2
    assert ask(host, in_iface="eth1", dport=80).decided_by.rule_number == 3
    assert ask(host, in_iface="eth1", src="203.0.113.1").decided_by.rule_number == 1


def test_it_matches_port_ranges_and_multiport_lists_at_their_edges():
    host = host_from("-A INPUT -p tcp -m tcp --dport 1000:2000 -j ACCEPT\n"
                     "-A INPUT -p udp -m multiport --dports 53,5000:5001 -j ACCEPT\n")
    assert [ask(host, dport=p).verdict for p in (999, 1000, 2000, 2001)] == [
        "DROP", "ACCEPT", "ACCEPT", "DROP"]
    assert [ask(host, proto="udp", dport=p).verdict for p in (53, 5001, 5002)] == [
        "ACCEPT", "ACCEPT", "DROP"]


def test_it_matches_icmp_types_by_name_and_number():
    host = host_from("-A INPUT -p icmp -m icmp --icmp-type echo-request -j ACCEPT\n"
                     "-A INPUT -p icmp -m icmp --icmp-type 3/3 -j ACCEPT\n")
    assert ask(host, proto="icmp").verdict == "ACCEPT"
    assert ask(host, proto="icmp", icmp_type=0).verdict == "DROP"
    assert ask(host, proto="icmp", icmp_type=3, icmp_code=3).verdict == "ACCEPT"
    assert ask(host, proto="icmp", icmp_type=3, icmp_code=1).verdict == "DROP"


def test_it_matches_tcp_flags_of_a_first_packet():
    host = host_from("-A INPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -j DROP\n"
                     "-A INPUT -p tcp -m tcp --syn -j ACCEPT\n")
    assert ask(host).verdict == "ACCEPT"
    assert ask(host, tcp_flags="ACK").verdict == "DROP"


def test_state_matches_see_no_connection_in_the_raw_table():
    raw = ("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
           "-A PREROUTING -m state --state INVALID -j DROP\nCOMMIT\n")
    assert ask(host_from("-A INPUT -j ACCEPT\n", tables=raw)).decided_by.table == "raw"


def test_notrack_makes_the_packet_untracked_for_later_tables():
    raw = ("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
           "-A PREROUTING -p tcp -m tcp --dport 22 -j NOTRACK\nCOMMIT\n")
    host = host_from("-A INPUT -m conntrack --ctstate UNTRACKED -j ACCEPT\n", tables=raw)
    assert ask(host).verdict == "ACCEPT"
    assert ask(host, dport=80).verdict == "DROP"


def test_dnat_rewrites_the_destination_and_sets_the_dnat_state():
    nat = ("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
           ":POSTROUTING ACCEPT [0:0]\n"
           "-A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.10:80\n"
           "COMMIT\n")
    host = host_from("-A INPUT -p tcp -m tcp --dport 80 -m conntrack --ctstate DNAT "
                     "--ctorigdstport 8080 -j ACCEPT\n", tables=nat)
    result = ask(host, dport=8080)
    assert result.verdict == "ACCEPT"
    assert result.nat == {"dst": "192.0.2.10", "dport": 80}
    assert ask(host, dport=80).verdict == "DROP"  # reached directly: no DNAT state


def test_a_dnat_to_the_same_address_and_port_sets_no_dnat_state():
    nat = ("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
           ":POSTROUTING ACCEPT [0:0]\n"
           "-A PREROUTING -j DNAT --to-destination 192.0.2.10:22\nCOMMIT\n")
    host = host_from("-A INPUT -m conntrack --ctstate DNAT -j ACCEPT\n", tables=nat)
    assert ask(host).verdict == "DROP"


def test_nat_is_skipped_for_packets_of_established_connections():
    nat = ("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
           ":POSTROUTING ACCEPT [0:0]\n-A PREROUTING -j DROP\nCOMMIT\n")
    host = host_from("-A INPUT -j ACCEPT\n", tables=nat)
    assert ask(host).verdict == "DROP"
    assert ask(host, ct_state="ESTABLISHED", tcp_flags="ACK").verdict == "ACCEPT"


def test_mark_set_in_mangle_is_seen_by_filter():
    mangle = ("*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
              ":OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
              "-A PREROUTING -i eth1 -j MARK --set-xmark 0x10/0xf0\nCOMMIT\n")
    host = host_from("-A INPUT -m mark --mark 0x10/0xf0 -j ACCEPT\n", tables=mangle)
    assert ask(host, in_iface="eth1").verdict == "ACCEPT"
    assert ask(host, in_iface="eth0").verdict == "DROP"
    assert ask(host, in_iface="eth0", mark=0x1F).verdict == "ACCEPT"


def test_it_matches_address_ranges():
    host = host_from("-A INPUT -m iprange --src-range 198.51.100.5-198.51.100.9 -j ACCEPT\n")
    assert [ask(host, src=f"198.51.100.{n}").verdict for n in (4, 5, 9, 10)] == [
        "DROP", "ACCEPT", "ACCEPT", "DROP"]


def test_addrtype_local_follows_the_path_without_host_addresses():
    host = host_from("-A INPUT -m addrtype --dst-type LOCAL -j ACCEPT\n"
                     "-A FORWARD -m addrtype ! --dst-type LOCAL -j ACCEPT\n")
    assert ask(host).verdict == "ACCEPT"
    assert ask(host, hook="FORWARD").verdict == "ACCEPT"
    assert ask(host, dst="224.0.0.5").verdict == "DROP"


def test_an_unmodelled_match_gives_both_outcomes_instead_of_a_guess():
    host = host_from("-A INPUT -p tcp -m recent --rcheck --name ssh -j DROP\n"
                     "-A INPUT -j ACCEPT\n")
    result = ask(host)
    assert result.verdict == "UNKNOWN"
    assert {o.verdict for o in result.possible} == {"ACCEPT", "DROP"}
    assert result.depends_on == ("filter INPUT rule 1 (-m recent --rcheck --name ssh)",)


def test_an_unmodelled_match_that_cannot_change_the_verdict_is_not_unknown():
    host = host_from("-A INPUT -m limit --limit 5/min -j LOG\n-A INPUT -j ACCEPT\n")
    result = ask(host)
    assert result.verdict == "ACCEPT"
    assert result.decided_by.rule_number == 2


def test_an_unreadable_address_is_a_warning_and_an_unknown_condition():
    host = host_from("-A INPUT -s <private_ip>/32 -j ACCEPT\n")
    assert "not an address" in host.warnings[0].message
    assert ask(host).verdict == "UNKNOWN"


def test_forwarded_packets_cross_forward_with_the_lower_ttl():
    host = host_from("-A FORWARD -m ttl --ttl-eq 63 -o cali+ -j ACCEPT\n")
    assert ask(host, hook="FORWARD", out_iface="cali9", in_iface="eth0").verdict == "ACCEPT"
    assert ask(host, hook="FORWARD", out_iface="eth1", in_iface="eth0").verdict == "DROP"


def test_the_index_gives_the_same_answers_as_a_scan_on_a_long_chain():
    rules = "".join(f"-A INPUT -s 10.0.{i}.0/24 -p tcp -m tcp --dport {1000 + i} -j ACCEPT\n"
                    for i in range(40))
    host = host_from(rules + "-A INPUT -p tcp -m multiport --dports 5,7 -j ACCEPT\n")
    from collectors.iptables import parse_iptables_save
    from webapp.engine.evaluate import explain
    from webapp.engine.iptables.compile import compile_ruleset
    from webapp.engine.packet import Packet

    text = ("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n" + rules
            + "-A INPUT -p tcp -m multiport --dports 5,7 -j ACCEPT\nCOMMIT\n")
    scan = compile_ruleset(parse_iptables_save(text), use_index=False)
    assert host.iptables[4].tables["filter"]["INPUT"].index is not None
    for i in (0, 7, 39, 40):
        for port in (5, 6, 1000 + i, 1001 + i):
            packet = Packet(src=f"10.0.{i}.9", dst="192.0.2.1", sport=1, dport=port)
            assert host.explain(packet).decided_by == explain(scan, packet).decided_by


def test_conntrack_finds_a_lone_fin_or_a_syn_ack_invalid_but_picks_up_a_plain_ack():
    host = host_from("-A INPUT -m state --state NEW -j ACCEPT\n"
                     "-A INPUT -m state --state INVALID -j REJECT\n")
    assert ask(host).verdict == "ACCEPT"
    assert ask(host, tcp_flags="ACK").verdict == "ACCEPT"
    assert ask(host, tcp_flags="FIN").verdict == "REJECT"
    assert ask(host, tcp_flags="SYN,ACK").verdict == "REJECT"
    assert ask(host, tcp_flags="SYN,FIN").verdict == "REJECT"


def test_an_icmp_reply_without_a_connection_is_invalid():
    host = host_from("-A INPUT -m conntrack --ctstate NEW -j ACCEPT\n")
    assert ask(host, proto="icmp", icmp_type=8).verdict == "ACCEPT"
    assert ask(host, proto="icmp", icmp_type=0).verdict == "DROP"


def test_a_local_address_is_not_also_unicast():
    host = host_from("-A INPUT -m addrtype --dst-type UNICAST -j ACCEPT\n")
    assert ask(host).verdict == "DROP"
    assert ask(host, hook="FORWARD").verdict == "DROP"  # FORWARD policy, rule is on INPUT


SETS = """create web hash:ip,port family inet hashsize 1024 maxelem 65536
add web 192.0.2.10,tcp:443
create office hash:net family inet hashsize 1024 maxelem 65536
add office 198.51.100.0/24
add office 198.51.100.128/25 nomatch
create trusted list:set size 8
add trusted office
"""


def test_set_lookups_take_each_dimension_from_its_flag():
    host = host_from("-A INPUT -m set --match-set web dst,dst -j ACCEPT\n", ipset=SETS)
    assert ask(host, dport=443).verdict == "ACCEPT"
    assert ask(host, dport=80).verdict == "DROP"
    assert ask(host, dport=443, proto="udp").verdict == "DROP"


def test_a_list_set_answers_through_its_member_sets_with_nomatch_entries():
    host = host_from("-A INPUT -m set --match-set trusted src -j ACCEPT\n", ipset=SETS)
    assert ask(host, src="198.51.100.7").verdict == "ACCEPT"
    assert ask(host, src="198.51.100.200").verdict == "DROP"


def test_a_set_missing_from_the_dump_makes_the_verdict_depend_on_it():
    host = host_from("-A INPUT -m set --match-set nowhere src -j ACCEPT\n", ipset=SETS)
    assert ask(host).verdict == "UNKNOWN"


MANGLE_CONNMARK = ("*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
                   ":OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
                   "-A PREROUTING -j CONNMARK --set-mark 0x1/0xff\nCOMMIT\n")


def test_connmark_does_nothing_to_a_packet_without_a_connection():
    host = host_from("-A INPUT -m connmark --mark 0x1/0xff -j DROP\n", tables=MANGLE_CONNMARK,
                     policy="ACCEPT")
    assert ask(host, proto="icmp", icmp_type=8).verdict == "DROP"
    # An echo reply nobody asked for is INVALID: no entry, so no connection mark.
    assert ask(host, proto="icmp", icmp_type=0).decided_by.policy


def test_a_negated_connmark_test_fails_too_without_a_connection():
    host = host_from("-A INPUT -m connmark ! --mark 0x2/0xff -j ACCEPT\n")
    assert ask(host, proto="icmp", icmp_type=8).verdict == "ACCEPT"
    assert ask(host, proto="icmp", icmp_type=0).verdict == "DROP"


def test_ctstatus_none_never_matches_under_iptables_nft_and_always_under_legacy():
    rules = ("-A INPUT -m conntrack --ctstatus NONE -j DROP\n"
             "-A INPUT -m conntrack ! --ctstatus NONE -j REJECT\n")
    nft = host_from(rules, policy="ACCEPT",
                    tables="# Generated by iptables-save v1.8.9 (nf_tables) on Thu Nov 26\n")
    assert ask(nft, proto="udp", dport=53).verdict == "REJECT"
    from webapp.engine.host import load_host
    legacy = load_host(iptables="# Generated by iptables-save v1.4.21 on Mon Jan  4 2016\n"
                       "*filter\n:INPUT ACCEPT [0:0]\n" + rules + "COMMIT\n")
    assert ask(legacy, proto="udp", dport=53).verdict == "DROP"


def test_ctstatus_of_an_established_connection_has_seen_a_reply():
    host = host_from("-A INPUT -m conntrack --ctstatus SEEN_REPLY -j ACCEPT\n"
                     "-A INPUT -m conntrack --ctstatus CONFIRMED -j REJECT\n")
    assert ask(host, ct_state="ESTABLISHED", tcp_flags="ACK").verdict == "ACCEPT"
    assert ask(host).verdict == "DROP"


def test_conntrack_ports_of_icmp_hold_type_and_code():
    host = host_from("-A INPUT -p icmp -m conntrack --ctorigdstport 2048 -j REJECT\n"
                     "-A INPUT -p icmp -m conntrack ! --ctorigdstport 9100 -j DROP\n",
                     policy="ACCEPT")
    assert ask(host, proto="icmp", icmp_type=8).verdict == "REJECT"
    assert ask(host, proto="icmp", icmp_type=13).decided_by.rule_number == 2


def test_a_set_of_outgoing_interfaces_holds_no_packet_on_input():
    sets = "create ifs hash:net,iface family inet\nadd ifs 10.0.0.0/8,eth1\n"
    host = host_from("-A INPUT -p tcp -m set --match-set ifs src,dst -j REJECT\n"
                     "-A INPUT -p tcp -m set ! --match-set ifs src,dst -j ACCEPT\n", ipset=sets)
    result = ask(host, src="10.1.1.1", in_iface="eth0")
    assert (result.verdict, result.decided_by.rule_number) == ("ACCEPT", 2)
