"""nftables semantics, one behaviour at a time, on small hand-written `nft -j` dumps."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.iptables import parse_iptables_save
from collectors.nft import parse_nft_json
from webapp.engine.evaluate import explain, iptables_base_chains
from webapp.engine.iptables.compile import compile_ruleset
from webapp.engine.nft.evaluate import compile_nft, nft_base_chains, nft_base_chains_from_json
from webapp.engine.packet import Packet

ACCEPT: dict[str, Any] = {"accept": None}
DROP: dict[str, Any] = {"drop": None}
COUNTER: dict[str, Any] = {"counter": {"packets": 7, "bytes": 420}}
_handles = itertools.count(100)


def payload(proto: str, field: str) -> dict[str, Any]:
    return {"payload": {"protocol": proto, "field": field}}


def meta(key: str) -> dict[str, Any]:
    return {"meta": {"key": key}}


def ct(key: str, **extra: str) -> dict[str, Any]:
    return {"ct": {"key": key, **extra}}


def match(left: Any, right: Any, op: str = "==") -> dict[str, Any]:
    return {"match": {"op": op, "left": left, "right": right}}


def jump(target: str) -> dict[str, Any]:
    return {"jump": {"target": target}}


def goto(target: str) -> dict[str, Any]:
    return {"goto": {"target": target}}


def concat(*parts: Any) -> dict[str, Any]:
    return {"concat": list(parts)}


def prefix(addr: str, length: int) -> dict[str, Any]:
    return {"prefix": {"addr": addr, "len": length}}


def chain(name: str, *rules: list[Any], hook: str | None = None, prio: int = 0,
          policy: str = "accept", kind: str = "filter", dev: str | None = None
          ) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "rules": rules}
    if hook:
        spec.update(type=kind, hook=hook, prio=prio, policy=policy)
        if dev:
            spec["dev"] = dev
    return spec


def nset(name: str, types: str | list[str], elements: list[Any], flags: list[str] | None = None,
         data: str | None = None) -> dict[str, Any]:
    spec = {"set": name, "type": types, "elem": elements, "flags": flags or []}
    if data:
        spec["map"] = data
    return spec


def table(family: str, name: str, *members: dict[str, Any], flags: list[str] | None = None
          ) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [{"table": {"family": family, "name": name, "handle": 1,
                                              **({"flags": flags} if flags else {})}}]
    for m in members:
        if "set" in m:
            kind = "map" if "map" in m else "set"
            body = {"family": family, "table": name, "name": m["set"], "handle": next(_handles),
                    "type": m["type"], "elem": m["elem"], "flags": m["flags"]}
            if "map" in m:
                body["map"] = m["map"]
            items.append({kind: body})
    for m in members:
        if "rules" not in m:
            continue
        head = {k: v for k, v in m.items() if k != "rules"}
        items.append({"chain": {"family": family, "table": name, "handle": next(_handles),
                                **head}})
        for statements in m["rules"]:
            items.append({"rule": {"family": family, "table": name, "chain": m["name"],
                                   "handle": next(_handles), "expr": statements}})
    return items


def dump(*tables: list[dict[str, Any]]) -> str:
    return json.dumps({"nftables": [item for t in tables for item in t]})


def ask(text: str, hook: str = "INPUT", extra_chains: list | None = None, **fields: Any
        ) -> Any:
    """Alice at 198.51.100.7 opens tcp/22 to the host at 192.0.2.10 (fields override)."""
    packet = Packet(**{"src": "198.51.100.7", "dst": "192.0.2.10", "proto": "tcp",
                       "sport": 40000, "dport": 22, "in_iface": "eth0", **fields})
    chains, _ = nft_base_chains_from_json(text, "host.json")
    return explain(list(chains.get(packet.family, [])) + (extra_chains or []), packet, hook)


def decided(result) -> tuple[str, Any]:
    return result.verdict, result.decided_by.to_dict() if result.decided_by else None


def steps(result) -> list[tuple[str, str, int | None]]:
    return [(s.kind, s.chain, s.rule_number) for s in result.trace]


SSH = [match(payload("tcp", "dport"), 22), ACCEPT]


# --- base chains on one hook ------------------------------------------------------------------
def test_base_chains_run_in_priority_order_whatever_order_the_dump_lists_them():
    text = dump(table("inet", "t",
                      chain("late", [DROP], hook="input", prio=10),
                      chain("early", [COUNTER], hook="input", prio=-10)))
    result = ask(text)
    assert steps(result) == [("rule", "early", 1), ("policy", "early", None),
                             ("rule", "late", 1)]
    assert decided(result) == ("DROP", {"family": "inet", "table": "t", "chain": "late",
                                        "rule_number": 1, "line": None,
                                        "handle": result.decided_by.handle})


def test_accept_ends_only_its_own_base_chain():
    text = dump(table("inet", "a", chain("in", SSH, hook="input", prio=0)),
                table("ip", "b", chain("in", [DROP], hook="input", prio=5)))
    result = ask(text)
    assert result.verdict == "DROP"
    assert (result.decided_by.family, result.decided_by.table) == ("ip", "b")


def test_drop_is_final_across_base_chains():
    text = dump(table("inet", "a", chain("in", [DROP], hook="input", prio=0)),
                table("inet", "b", chain("in", SSH, hook="input", prio=5)))
    result = ask(text)
    assert result.verdict == "DROP"
    assert [s.table for s in result.trace] == ["inet a"]


def test_a_packet_accepted_everywhere_is_decided_by_the_last_accepting_rule_on_its_hook():
    text = dump(table("inet", "t", chain("pre", [ACCEPT], hook="prerouting", prio=0),
                      chain("in", [COUNTER], SSH, hook="input", prio=0)))
    result = ask(text)
    assert decided(result)[1]["chain"] == "in" and result.decided_by.rule_number == 2


def test_the_policy_decides_when_no_rule_matches():
    text = dump(table("inet", "t", chain("in", SSH, hook="input", prio=0, policy="drop")))
    assert decided(ask(text, dport=80)) == ("DROP", {"family": "inet", "table": "t",
                                                     "chain": "in", "policy": True})


def test_the_decision_names_family_table_chain_position_and_handle():
    text = dump(table("inet", "fw", chain("in", [COUNTER], SSH, hook="input", prio=0)))
    handle = next(r.handle for r in parse_nft_json(text).rules() if r.position == 2)
    decision = ask(text).decided_by
    assert (decision.family, decision.table, decision.chain, decision.rule_number,
            decision.line, decision.handle) == ("inet", "fw", "in", 2, None, handle)


def test_trace_steps_name_the_table_as_nft_does_and_carry_counters_and_handle():
    text = dump(table("inet", "fw", chain("in", [COUNTER], SSH, hook="input", prio=0)))
    first = ask(text).trace[0]
    assert (first.table, first.packets, first.bytes, first.hook) == ("inet fw", 7, 420, "INPUT")
    assert first.note.startswith("handle ") and first.text == "counter packets 7 bytes 420"


# --- chains, verdicts and maps ----------------------------------------------------------------
def test_jump_returns_to_the_next_rule_of_the_caller():
    text = dump(table("inet", "t", chain("web", [match(payload("tcp", "dport"), 80), ACCEPT]),
                      chain("in", [jump("web")], [DROP], hook="input", prio=0)))
    result = ask(text)
    assert steps(result) == [("jump", "in", 1), ("return", "web", None), ("rule", "in", 2)]
    assert ask(text, dport=80).decided_by.chain == "web"


def test_goto_does_not_come_back():
    text = dump(table("inet", "t", chain("side", [COUNTER]),
                      chain("in", [goto("side")], [DROP], hook="input", prio=0)))
    assert decided(ask(text))[1]["policy"] is True


def test_return_in_a_regular_chain_and_in_a_base_chain():
    text = dump(table("inet", "t", chain("sub", [{"return": None}], [DROP]),
                      chain("in", [jump("sub")], [{"return": None}], [DROP], hook="input",
                            prio=0, policy="accept")))
    result = ask(text)
    assert decided(result) == ("ACCEPT", {"family": "inet", "table": "t", "chain": "in",
                                          "policy": True})
    assert [s.kind for s in result.trace] == ["jump", "return", "return", "policy"]


def test_an_anonymous_verdict_map_picks_the_verdict_by_key():
    vmap = {"vmap": {"key": payload("tcp", "dport"), "data": {"set": [
        [22, ACCEPT], [{"range": [1000, 2000]}, jump("hi")], [80, DROP]]}}}
    text = dump(table("inet", "t", chain("hi", [{"reject": None}]),
                      chain("in", [vmap], [COUNTER], hook="input", prio=0)))
    assert ask(text).verdict == "ACCEPT"
    assert ask(text, dport=80).verdict == "DROP"
    assert ask(text, dport=1500).verdict == "REJECT"
    missed = ask(text, dport=443)
    assert (missed.verdict, missed.decided_by.policy, steps(missed)[0]) == (
        "ACCEPT", True, ("rule", "in", 2))


def test_a_named_verdict_map_on_interface_names():
    text = dump(table("inet", "t",
                      nset("dispatch", "ifname", [["cali1", jump("wl")], ["eth0", ACCEPT]],
                           data="verdict"),
                      chain("wl", [DROP]),
                      chain("fwd", [{"vmap": {"key": meta("oifname"), "data": "@dispatch"}}],
                            hook="forward", prio=0, policy="drop")))
    assert ask(text, "FORWARD", out_iface="cali1").decided_by.chain == "wl"
    assert ask(text, "FORWARD", out_iface="eth0").verdict == "ACCEPT"


def test_a_concatenated_set_matches_only_whole_tuples():
    pairs = nset("pairs", ["ipv4_addr", "inet_service"],
                 [concat("198.51.100.7", 22), concat("198.51.100.8", 80)])
    rule = [match(concat(payload("ip", "saddr"), payload("tcp", "dport")), "@pairs"), ACCEPT]
    text = dump(table("inet", "t", pairs, chain("in", rule, hook="input", prio=0,
                                                policy="drop")))
    assert ask(text).verdict == "ACCEPT"
    assert ask(text, dport=80).verdict == "DROP"
    assert ask(text, src="198.51.100.8", dport=80).verdict == "ACCEPT"


def test_interval_sets_hold_prefixes_and_ranges_also_inside_concatenations():
    nets = nset("nets", "ipv4_addr", [prefix("10.0.0.0", 8), {"range": ["198.51.100.5",
                                                                         "198.51.100.9"]}],
                flags=["interval"])
    mixed = nset("mixed", ["ipv4_addr", "inet_service"],
                 [concat(prefix("203.0.113.0", 24), {"range": [20, 25]})], flags=["interval"])
    text = dump(table("inet", "t", nets, mixed,
                      chain("in", [match(payload("ip", "saddr"), "@nets"), ACCEPT],
                            [match(concat(payload("ip", "saddr"), payload("tcp", "dport")),
                                   "@mixed"), ACCEPT], hook="input", prio=0, policy="drop")))
    assert ask(text).verdict == "ACCEPT"
    assert ask(text, src="198.51.100.10").verdict == "DROP"
    assert ask(text, src="203.0.113.9", dport=23).decided_by.rule_number == 2
    assert ask(text, src="203.0.113.9", dport=26).verdict == "DROP"


def test_anonymous_sets_and_negation():
    rule = [match(payload("ip", "saddr"), {"set": ["192.0.2.1", prefix("198.51.100.0", 24)]},
                  "!="), DROP]
    text = dump(table("inet", "t", chain("in", rule, hook="input", prio=0)))
    assert ask(text).verdict == "ACCEPT"
    assert ask(text, src="203.0.113.1").verdict == "DROP"


def test_a_header_the_packet_lacks_stops_the_rule_even_when_negated():
    rules = [[match(payload("ip", "saddr"), "10.0.0.1", "!="), DROP],
             [match(payload("udp", "dport"), 53, "!="), DROP], SSH]
    text = dump(table("inet", "t", chain("in", *rules, hook="input", prio=0, policy="drop")))
    six = ask(text, src="2001:db8::7", dst="2001:db8::1")
    assert (six.verdict, six.decided_by.rule_number) == ("ACCEPT", 3)


def test_flags_test_bits_with_in_and_exact_values_with_equality():
    rules = [[match(payload("tcp", "flags"), ["fin", "rst"], "in"), DROP],
             [match({"&": [payload("tcp", "flags"), ["syn", "ack"]]}, "syn"), ACCEPT]]
    text = dump(table("inet", "t", chain("in", *rules, hook="input", prio=0, policy="drop")))
    assert ask(text).verdict == "ACCEPT"
    assert ask(text, tcp_flags="SYN,ACK").verdict == "DROP"
    assert ask(text, tcp_flags="RST").decided_by.rule_number == 1


def test_a_reject_applies_only_to_packets_its_error_fits():
    rules = [[{"reject": {"type": "icmp", "expr": "host-prohibited"}}],
             [{"reject": {"type": "tcp reset"}}], [DROP]]
    text = dump(table("inet", "t", chain("in", *rules, hook="input", prio=0)))
    assert ask(text).decided_by.rule_number == 1
    six_tcp = ask(text, src="2001:db8::7", dst="2001:db8::1")
    six_udp = ask(text, src="2001:db8::7", dst="2001:db8::1", proto="udp")
    assert (six_tcp.verdict, six_tcp.decided_by.rule_number) == ("REJECT", 2)
    assert (six_udp.verdict, six_udp.decided_by.rule_number) == ("DROP", 3)


# --- conntrack, marks, interfaces, addresses ------------------------------------------------
def test_ct_state_is_invalid_before_conntrack_and_new_after_it():
    check = [match(ct("state"), "invalid", "in"), COUNTER]
    text = dump(table("inet", "t", chain("raw", check, hook="prerouting", prio=-300),
                      chain("mangle", check, hook="prerouting", prio=-150)))
    result = ask(text)
    assert [s.chain for s in result.trace if s.kind == "rule"] == ["raw"]


def test_notrack_before_conntrack_makes_the_packet_untracked():
    text = dump(table("inet", "t", chain("raw", [{"notrack": None}], hook="prerouting",
                                         prio=-300),
                      chain("in", [match(ct("state"), "untracked", "in"), DROP],
                            hook="input", prio=0)))
    assert ask(text).verdict == "DROP"


def test_ct_state_sets_and_flag_lists():
    text = dump(table("inet", "t", chain(
        "in", [match(ct("state"), ["established", "related"], "in"), ACCEPT],
        [match(ct("state"), {"set": ["new"]}), {"reject": {"type": "tcp reset"}}],
        hook="input", prio=0)))
    assert ask(text).verdict == "REJECT"
    assert ask(text, ct_state="ESTABLISHED").decided_by.rule_number == 1


def test_a_mark_set_in_one_base_chain_is_seen_by_a_later_one():
    mark_set = {"mangle": {"key": meta("mark"), "value": {"map": {
        "key": payload("tcp", "dport"), "data": {"set": [[22, 16], [80, 32]]}}}}}
    text = dump(table("inet", "t", chain("pre", [mark_set], hook="prerouting", prio=-150),
                      chain("in", [match({"&": [meta("mark"), 240]}, 16), DROP],
                            hook="input", prio=0)))
    assert ask(text).verdict == "DROP"
    assert ask(text, dport=80).verdict == "ACCEPT"
    assert "mark set to 0x10" in ask(text).trace[0].note


def test_ct_mark_needs_a_connection():
    rules = [[{"mangle": {"key": ct("mark"), "value": 5}}],
             [match(ct("mark"), 5, "!="), DROP]]
    text = dump(table("inet", "t", chain("raw", *rules, hook="prerouting", prio=-300),
                      chain("in", *rules, hook="input", prio=0)))
    # In raw there is no connection: the set does nothing and the test does not match.
    assert ask(text).verdict == "ACCEPT"


def test_interface_names_wildcards_and_hooks_where_an_interface_exists():
    rules = [[match(meta("iifname"), "cali*"), DROP], [match(meta("oifname"), "eth1"), DROP]]
    text = dump(table("inet", "t", chain("in", *rules, hook="input", prio=0),
                      chain("post", [match(meta("iifname"), "eth0"), DROP],
                            hook="postrouting", prio=0)))
    assert ask(text, in_iface="cali12").verdict == "DROP"
    assert ask(text, in_iface="eth0", out_iface="eth1").verdict == "ACCEPT"  # no oif on INPUT
    # A forwarded packet keeps its input interface on postrouting (ip_output passes skb->dev).
    assert ask(text, "FORWARD", in_iface="eth0", out_iface="eth1").verdict == "DROP"


def test_fib_address_types_follow_the_hook_or_the_hosts_addresses():
    rule = [match({"fib": {"result": "type", "flags": ["daddr"]}}, "local"), DROP]
    text = dump(table("inet", "t", chain("pre", rule, hook="prerouting", prio=0)))
    assert ask(text).verdict == "DROP"
    assert ask(text, "FORWARD", out_iface="eth1").verdict == "ACCEPT"


def test_the_ttl_is_lowered_before_forward():
    rule = [match(payload("ip", "ttl"), 63), DROP]
    text = dump(table("inet", "t", chain("fwd", rule, hook="forward", prio=0),
                      chain("pre", rule, hook="prerouting", prio=0)))
    result = ask(text, "FORWARD", out_iface="eth1")
    assert (result.verdict, result.decided_by.chain) == ("DROP", "fwd")


def test_a_set_filled_by_a_rule_is_seen_later_on_the_same_path():
    dyn = nset("seen", "ipv4_addr", [], flags=["dynamic"])
    add = {"set": {"op": "add", "elem": payload("ip", "saddr"), "set": "@seen"}}
    text = dump(table("inet", "t", dyn, chain("pre", [add], hook="prerouting", prio=0),
                      chain("in", [match(payload("ip", "saddr"), "@seen"), DROP],
                            hook="input", prio=0)))
    assert ask(text).verdict == "DROP"


# --- NAT --------------------------------------------------------------------------------------
def test_dnat_changes_what_later_chains_see_and_marks_the_connection():
    dnat = [match(payload("tcp", "dport"), 22), {"dnat": {"family": "ip", "addr": "10.0.0.5",
                                                         "port": 2222}}]
    text = dump(table("ip", "nat", chain("pre", dnat, hook="prerouting", prio=-100,
                                         kind="nat")),
                table("inet", "f", chain("in", [match(payload("tcp", "dport"), 2222),
                                                match(ct("status"), "dnat", "in"), DROP],
                                         hook="input", prio=0)))
    result = ask(text)
    assert result.verdict == "DROP"
    assert result.nat == {"dst": "10.0.0.5", "dport": 2222}


def test_nat_chains_run_at_the_nat_core_priority_and_stop_once_bound():
    first = [{"dnat": {"family": "ip", "addr": "10.0.0.5"}}]
    second = [{"dnat": {"family": "ip", "addr": "10.0.0.6"}}]
    seen = [match(payload("ip", "daddr"), "10.0.0.5"), COUNTER]
    text = dump(table("inet", "t",
                      chain("nat_b", second, hook="prerouting", prio=50, kind="nat"),
                      chain("nat_a", first, hook="prerouting", prio=40, kind="nat"),
                      chain("filt", seen, hook="prerouting", prio=-50)))
    result = ask(text)
    assert [s.chain for s in result.trace] == ["nat_a", "filt", "filt"]
    assert result.nat["dst"] == "10.0.0.5"


def test_a_nat_statement_for_the_other_family_leaves_the_packet_alone():
    rule = [{"dnat": {"family": "ip", "addr": "10.0.0.5"}}]
    text = dump(table("inet", "t", chain("nat", rule, hook="prerouting", prio=-100,
                                         kind="nat")))
    assert ask(text, src="2001:db8::7", dst="2001:db8::1").nat is None


# --- what cannot be known -------------------------------------------------------------------
def test_a_rate_limit_gives_both_outcomes():
    rule = [{"limit": {"rate": 10, "per": "second"}}, ACCEPT]
    text = dump(table("inet", "t", chain("in", rule, hook="input", prio=0, policy="drop")))
    result = ask(text)
    assert result.verdict == "UNKNOWN"
    assert {o.verdict for o in result.possible} == {"ACCEPT", "DROP"}
    assert "limit rate 10/second" in result.depends_on[0]


def test_a_verdict_map_on_an_unknown_key_forks_over_its_verdicts():
    vmap = {"vmap": {"key": {"numgen": {"mode": "random", "mod": 2}},
                     "data": {"set": [[0, ACCEPT], [1, DROP]]}}}
    text = dump(table("inet", "t", chain("in", [vmap], hook="input", prio=0)))
    assert {o.verdict for o in ask(text).possible} == {"ACCEPT", "DROP"}


def test_unknown_statements_are_carried_as_depends_on_not_guessed():
    text = dump(table("inet", "t", chain("in", [{"teleport": {}}, DROP], hook="input",
                                         prio=0)))
    chains, warnings = nft_base_chains_from_json(text, "odd.json")
    assert any("teleport" in str(w) for w in warnings)
    assert ask(text).verdict == "UNKNOWN"


# --- which chains apply -----------------------------------------------------------------------
def test_ip_and_ip6_tables_see_only_their_family_and_inet_both():
    text = dump(table("ip", "four", chain("in", [DROP], hook="input", prio=0)),
                table("ip6", "six", chain("in", [DROP], hook="input", prio=0)),
                table("inet", "both", chain("in", [COUNTER], hook="input", prio=0)))
    chains = compile_nft(parse_nft_json(text)).base_chains
    assert sorted(b.chain.table for b in chains[4]) == ["both", "four"]
    assert sorted(b.chain.table for b in chains[6]) == ["both", "six"]


def test_bridge_arp_and_dormant_tables_are_reported_not_evaluated():
    text = dump(table("bridge", "br", chain("fwd", [DROP], hook="forward", prio=-200)),
                table("arp", "a", chain("in", [DROP], hook="input", prio=0)),
                table("inet", "off", chain("in", [DROP], hook="input", prio=0),
                      flags=["dormant"]))
    compiled = compile_nft(parse_nft_json(text))
    assert compiled.base_chains == {}
    assert len(compiled.not_applied) == 3
    assert ask(text).verdict == "ACCEPT"


def test_a_netdev_ingress_chain_filters_only_its_device_before_prerouting():
    text = dump(table("netdev", "edge", chain("ing", [DROP], hook="ingress", prio=0,
                                              dev="eth1")),
                table("inet", "t", chain("raw", [COUNTER], hook="prerouting", prio=-300)))
    assert ask(text, in_iface="eth0").verdict == "ACCEPT"
    result = ask(text, in_iface="eth1")
    assert (result.verdict, [s.chain for s in result.trace]) == ("DROP", ["ing"])


def test_iptables_and_native_nft_share_a_hook_on_a_mixed_host():
    iptables = parse_iptables_save("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
                                   ":OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 22 "
                                   "-j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n", "iptables-save")
    legacy = iptables_base_chains(compile_ruleset(iptables, family=4))
    text = dump(table("inet", "native", chain("in", [match(payload("tcp", "dport"), 80),
                                                     ACCEPT],
                                              hook="input", prio=-5, policy="drop")))
    chains = nft_base_chains(parse_nft_json(text), 4)
    both = chains + legacy
    # nft at -5 runs first and drops ssh; web passes nft, then iptables' filter (0) drops it.
    ssh = explain(both, Packet("198.51.100.7", "192.0.2.10", "tcp", 40000, 22), "INPUT")
    web = explain(both, Packet("198.51.100.7", "192.0.2.10", "tcp", 40000, 80), "INPUT")
    assert ssh.decided_by is not None and web.decided_by is not None
    assert (ssh.verdict, ssh.decided_by.family, ssh.decided_by.policy) == ("DROP", "inet", True)
    assert (web.verdict, web.decided_by.table, web.decided_by.rule_number) == ("DROP", "filter",
                                                                               2)
    assert [s.table for s in web.trace] == ["inet native", "filter"]


def test_a_mark_computed_from_the_packets_own_mark_and_a_queue_that_userspace_decides():
    bump = {"mangle": {"key": meta("mark"), "value": {"|": [meta("mark"), 16]}}}
    queue = {"queue": {"num": 1}}
    text = dump(table("inet", "t", chain("in", [bump], [match(meta("mark"), 17), queue],
                                         hook="input", prio=0)))
    assert {o.verdict for o in ask(text, mark=1).possible} == {"ACCEPT", "DROP"}
    assert ask(text, mark=2).verdict == "ACCEPT"


def test_a_jump_to_a_chain_the_dump_lacks_is_a_depends_on():
    text = dump(table("inet", "t", chain("in", [jump("nowhere")], hook="input", prio=0)))
    chains, warnings = nft_base_chains_from_json(text)
    assert any("missing chain nowhere" in str(w) for w in warnings)
    assert {o.verdict for o in ask(text).possible} == {"ACCEPT", "DROP"}


_selectors = st.sampled_from([
    payload("ip", "saddr"), payload("ip6", "daddr"), payload("tcp", "dport"),
    payload("th", "sport"), payload("icmp", "type"), payload("ether", "saddr"),
    payload("vlan", "id"), meta("iifname"),
    meta("mark"), meta("l4proto"), meta("cpu"), ct("state"), ct("status"), ct("mark"),
    ct("saddr", dir="reply", family="ip"), {"fib": {"result": "type", "flags": ["daddr"]}},
    {"exthdr": {"name": "hbh"}}, {"tcp option": {"name": "maxseg", "field": "size"}},
    {"numgen": {"mode": "inc", "mod": 2}}, {"bogus": {}}, "eth0", 7])
_values = st.one_of(st.integers(-5, 70000), st.booleans(), st.none(),
                    st.sampled_from(["10.0.0.1", "2001:db8::1", "eth*", "new", "syn", "ssh",
                                     "@nope", "local", "", "*", "tcp"]),
                    st.sampled_from([prefix("10.0.0.0", 8), prefix("10.0.0.0", 99),
                                     {"range": [5, 1]}, {"set": [1, "x", prefix("::", 0)]},
                                     ["syn", "ack"], {"|": ["new", 3]}, concat("1.2.3.4", 80)]))
_statements = st.one_of(
    st.builds(lambda left, right, op: match(left, right, op), _selectors, _values,
              st.sampled_from(["==", "!=", "<", ">=", "in", "&", "??"])),
    st.builds(lambda key, value: {"mangle": {"key": key, "value": value}}, _selectors, _values),
    st.builds(lambda key, data: {"vmap": {"key": key, "data": {"set": [[data, ACCEPT]]}}},
              _selectors, _values),
    st.builds(lambda addr: {"dnat": {"addr": addr}}, _values),
    st.sampled_from([ACCEPT, DROP, COUNTER, jump("c"), goto("c"), {"return": None},
                     {"notrack": None}, {"reject": {"type": "icmpv6"}}, {"queue": None},
                     {"limit": "x"}, {"xt": {"type": "target", "name": "TPROXY"}}, {"?": 1}]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_statements, max_size=4), max_size=5),
       st.sampled_from(["filter", "nat"]), st.sampled_from(["prerouting", "input", "forward"]))
def test_any_statements_compile_and_evaluate_without_crashing(rules, kind, hook):
    text = dump(table("inet", "t", chain("c", [COUNTER]),
                      chain("in", *rules, hook=hook, prio=0, kind=kind)))
    variants: list[dict[str, Any]] = [{}, {"proto": "icmp"},
                                      {"src": "2001:db8::7", "dst": "2001:db8::1", "proto": "udp"}]
    for fields in variants:
        result = ask(text, "FORWARD" if hook == "forward" else "INPUT", **fields)
        assert result.verdict in ("ACCEPT", "DROP", "REJECT", "UNKNOWN")
