"""Set membership as `-m set --match-set` decides it; each case was checked on Linux 6.18."""

from __future__ import annotations

import os
import random
import time
from ipaddress import IPv4Address, IPv4Network, IPv6Address, ip_address, ip_network
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.ipset import Interface, parse_ipset_save
from webapp.engine.iptables.ipsets import (
    NO_MAC,
    Endpoint,
    SetIndex,
    UndeterminedMatch,
    compile_sets,
    load_set_lookup,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("SEGSCOPE_CORPUS", REPO_ROOT.parent / "shared" / "corpus")) / "ipset"
TCP, UDP, SCTP, UDPLITE, ICMP, GRE = 6, 17, 132, 136, 1, 47


def sets(text: str) -> SetIndex:
    return compile_sets(parse_ipset_save(text, "host.ipset"))


def a(text: str) -> IPv4Address | IPv6Address:
    return ip_address(text)


NESTED = sets("""create blocked hash:net family inet
add blocked 10.0.0.0/8
add blocked 10.1.0.0/16 nomatch
add blocked 10.1.1.0/24
add blocked 192.168.1.1-192.168.1.10
""")


# -- hash:ip and hash:net -----------------------------------------------------------------

def test_it_finds_a_member_of_a_hash_ip_set() -> None:
    index = sets("create s hash:ip\nadd s 192.0.2.1\nadd s 192.0.2.8-192.0.2.9\n")
    assert [index.match("s", [a(x)]) for x in ("192.0.2.1", "192.0.2.9", "192.0.2.2")] == [
        True, True, False]


def test_it_prefers_a_more_specific_nomatch_entry() -> None:
    assert NESTED.match("blocked", [a("10.2.0.1")])
    assert not NESTED.match("blocked", [a("10.1.2.3")])


def test_it_matches_a_more_specific_entry_inside_a_nomatch_network() -> None:
    assert NESTED.match("blocked", [a("10.1.1.3")])


def test_it_splits_a_range_into_networks_for_hash_net() -> None:
    assert NESTED.match("blocked", [a("192.168.1.10")])
    assert not NESTED.match("blocked", [a("192.168.1.11")])


def test_it_inverts_nomatch_hits_with_return_nomatch() -> None:
    assert NESTED.match("blocked", [a("10.1.2.3")], return_nomatch=True)
    assert not NESTED.match("blocked", [a("10.2.0.1")], return_nomatch=True)
    assert not NESTED.match("blocked", [a("11.0.0.1")], return_nomatch=True)


def test_it_keeps_elements_that_carry_a_timeout() -> None:
    index = sets("create s hash:ip timeout 300\nadd s 192.0.2.1 timeout 1\n")
    assert index.match("s", [a("192.0.2.1")])


def test_it_never_matches_a_packet_of_another_family() -> None:
    assert not NESTED.match("blocked", [a("::ffff:10.0.0.1")])
    v6 = sets("create s hash:net family inet6\nadd s ::/1\n")
    assert not v6.match("s", [a("10.0.0.1")])
    assert v6.match("s", [a("::1")])


def test_it_masks_addresses_with_the_netmask_option() -> None:
    index = sets("create s hash:ip netmask 24\nadd s 192.0.2.77\nadd s 10.0.0.200-10.0.2.100\n")
    assert index.match("s", [a("192.0.2.1")])
    assert index.match("s", [a("10.0.2.250")])
    assert not index.match("s", [a("192.0.3.1")])


def test_it_masks_ipv6_addresses_with_the_netmask_option() -> None:
    index = sets("create s hash:ip family inet6 netmask 64\nadd s 2001:db8::1\n")
    assert index.match("s", [a("2001:db8::ffff")])
    assert not index.match("s", [a("2001:db8:0:1::1")])


def test_it_masks_addresses_with_a_bitmask_that_is_not_a_prefix() -> None:
    index = sets("create s hash:ip bitmask 255.255.0.255\nadd s 10.1.2.3\n")
    assert index.match("s", [a("10.1.7.3")])
    assert not index.match("s", [a("10.1.7.4")])


def test_it_stores_the_interval_from_the_masked_start_for_a_bitmask_range() -> None:
    # The kernel masks only the first address of a range, then stores every address up to the
    # unmasked end: 10.1.7.4 masks to 10.1.0.4, which lies in [10.1.0.3, 10.1.2.5].
    index = sets("create s hash:ip bitmask 255.255.0.255\nadd s 10.1.2.3-10.1.2.5\n")
    assert index.match("s", [a("10.1.7.4")])


# -- bitmaps ------------------------------------------------------------------------------

def test_it_matches_inside_a_bitmap_range_only() -> None:
    index = sets("create s bitmap:ip range 10.0.0.0/24\nadd s 10.0.0.0/25\n")
    assert index.match("s", [a("10.0.0.127")])
    assert not index.match("s", [a("10.0.0.128")])
    assert not index.match("s", [a("10.0.1.1")])
    assert not index.match("s", [a("::1")])


def test_it_steps_a_bitmap_range_from_its_unaligned_start() -> None:
    # bitmap:ip adds a range block by block from 10.0.0.122: 122 and 186 > 162 stop, so the
    # block of 10.0.0.162 (10.0.0.128/26) is not added.
    index = sets("create s bitmap:ip range 10.0.0.0/22 netmask 26\nadd s 10.0.0.122-10.0.0.162\n")
    assert index.match("s", [a("10.0.0.64")])
    assert not index.match("s", [a("10.0.0.162")])


def test_it_matches_bitmap_ports_of_tcp_and_udp_only() -> None:
    index = sets("create s bitmap:port range 1000-2000\nadd s 1500\n")
    assert index.match("s", [(TCP, 1500)]) and index.match("s", [(UDP, 1500)])
    assert not index.match("s", [(SCTP, 1500)])
    assert not index.match("s", [(UDP, 1501)])


def test_it_fills_in_the_missing_mac_of_a_bitmap_ip_mac_entry() -> None:
    index = sets("create s bitmap:ip,mac range 10.0.0.0/24\nadd s 10.0.0.1,00:11:22:33:44:55\n"
                 "add s 10.0.0.2\n")
    assert index.match("s", [a("10.0.0.1"), "00:11:22:33:44:55"])
    assert not index.match("s", [a("10.0.0.1"), "00:11:22:33:44:56"])
    assert index.match("s", [a("10.0.0.2"), "66:77:88:99:aa:bb"])


# -- ports, marks, MACs, interfaces --------------------------------------------------------

PORTS = sets("""create s hash:ip,port
add s 10.0.0.1,tcp:80
add s 10.0.0.1,udp:53
add s 10.0.0.1,icmp:echo-request
add s 10.0.0.1,gre:0
add s 10.0.0.2,sctp:100-102
""")


def test_it_requires_the_protocol_of_a_port_to_match() -> None:
    assert PORTS.match("s", [a("10.0.0.1"), (TCP, 80)])
    assert not PORTS.match("s", [a("10.0.0.1"), (UDP, 80)])
    assert PORTS.match("s", [a("10.0.0.2"), (SCTP, 101)])


def test_it_encodes_icmp_type_and_code_as_the_port() -> None:
    assert PORTS.match("s", [a("10.0.0.1"), (ICMP, 8 << 8 | 0)])
    assert not PORTS.match("s", [a("10.0.0.1"), (ICMP, 0)])


def test_it_reads_port_zero_for_protocols_without_ports() -> None:
    assert PORTS.match("s", [a("10.0.0.1"), (GRE, None)])


def test_it_masks_marks_with_the_markmask() -> None:
    index = sets("create s hash:ip,mark markmask 0xff\nadd s 10.0.0.1,0x1012\n")
    assert index.match("s", [a("10.0.0.1"), 0x12])
    assert index.match("s", [a("10.0.0.1"), 0xAB12])
    assert not index.match("s", [a("10.0.0.1"), 0x13])


def test_it_matches_macs_whatever_their_case() -> None:
    index = sets("create s hash:mac\nadd s 00:11:22:33:44:55\n")
    assert index.match("s", ["00:11:22:33:44:55"]) and index.match("s", ["0:11:22:33:44:55"])


def test_it_never_matches_a_packet_without_a_mac_header() -> None:
    index = sets("create s bitmap:ip,mac range 10.0.0.0/24\nadd s 10.0.0.2\n")
    assert not index.match("s", [a("10.0.0.2"), NO_MAC])
    assert not sets("create m hash:mac\nadd m 00:11:22:33:44:55\n").match("m", [NO_MAC])


IFACES = sets("""create s hash:net,iface
add s 10.0.0.0/8,eth0
add s 10.0.0.0/16,eth2
add s 10.2.0.0/16,eth nomatch wildcard
add s 10.3.0.0/16,physdev:eth0
""")


def test_it_matches_the_interface_of_a_hash_net_iface_entry() -> None:
    assert IFACES.match("s", [a("10.1.0.1"), "eth0"])
    assert IFACES.match("s", [a("10.0.0.1"), "eth2"])
    assert not IFACES.match("s", [a("10.1.0.1"), "eth1"])


def test_it_stops_at_the_most_specific_prefix_holding_the_network_with_any_interface() -> None:
    # 10.0.0.0/16 is stored (for eth2), so the kernel never reaches 10.0.0.0/8,eth0.
    assert not IFACES.match("s", [a("10.0.0.1"), "eth0"])


def test_it_matches_a_wildcard_interface_by_prefix() -> None:
    assert not IFACES.match("s", [a("10.2.0.1"), "eth7"])
    assert IFACES.match("s", [a("10.2.0.1"), "eth7"], return_nomatch=True)


def test_it_matches_bridge_port_entries_only_for_bridge_port_lookups() -> None:
    assert not IFACES.match("s", [a("10.3.0.1"), "eth9"])
    assert IFACES.match("s", [a("10.3.0.1"), Interface("eth0", physdev=True)])


# -- several net parts ---------------------------------------------------------------------

def test_it_gives_the_first_part_precedence_in_hash_net_net() -> None:
    index = sets("create s hash:net,net\nadd s 10.1.0.0/16,192.0.0.0/8 nomatch\n"
                 "add s 10.0.0.0/8,192.168.1.0/24\n")
    assert not index.match("s", [a("10.1.0.1"), a("192.168.1.1")])
    assert index.match("s", [a("10.2.0.1"), a("192.168.1.1")])
    assert not index.match("s", [a("10.2.0.1"), a("192.168.2.1")])


def test_it_looks_up_the_net_part_of_hash_ip_port_net_with_nomatch() -> None:
    index = sets("create s hash:ip,port,net\nadd s 10.0.0.1,tcp:80,192.168.0.0/16\n"
                 "add s 10.0.0.1,tcp:80,192.168.7.0/24 nomatch\n")
    assert index.match("s", [a("10.0.0.1"), (TCP, 80), a("192.168.1.1")])
    assert not index.match("s", [a("10.0.0.1"), (TCP, 80), a("192.168.7.1")])
    assert not index.match("s", [a("10.0.0.2"), (TCP, 80), a("192.168.1.1")])


def test_it_accepts_a_zero_prefix_in_hash_net_port_net() -> None:
    index = sets("create s hash:net,port,net\nadd s 10.0.0.0/8,tcp:443,0.0.0.0/0\n")
    assert index.match("s", [a("10.9.9.9"), (TCP, 443), a("203.0.113.5")])


# -- list:set ------------------------------------------------------------------------------

LISTS = sets("""create nets hash:net
add nets 10.0.0.0/8
add nets 10.1.0.0/16 nomatch
create hosts hash:ip
add hosts 10.1.0.5
create services hash:ip,port
add services 10.1.0.6,udp:53
create all list:set
add all nets
add all hosts
add all services
add all elsewhere
create known list:set
add known nets
add known hosts
""")


def test_it_tries_list_members_in_order_past_a_nomatch() -> None:
    assert LISTS.match("known", [a("10.1.0.5")])
    assert not LISTS.match("known", [a("10.1.0.6")])
    assert LISTS.match("known", [a("10.2.0.1")])


def test_it_skips_list_members_that_need_more_flags_than_the_rule_gives() -> None:
    side = Endpoint(address=a("10.1.0.6"), port=(UDP, 53))
    assert LISTS.match3("all", [side]) is None  # only the missing set could still match
    assert LISTS.match3("all", [side, side]) is True


def test_it_answers_unknown_when_a_list_names_a_set_missing_from_the_dump() -> None:
    assert LISTS.match3("all", [a("10.1.0.7")]) is None
    assert LISTS.match3("all", [a("10.1.0.5")]) is True


# -- unknown fields and the calling conventions --------------------------------------------

def test_it_answers_unknown_for_an_unknown_mac() -> None:
    index = sets("create s hash:ip,mac\nadd s 10.0.0.1,00:11:22:33:44:55\n")
    assert index.match3("s", [a("10.0.0.1"), None]) is None
    assert index.match3("s", [a("10.0.0.2"), None]) is False


def test_it_answers_false_when_no_entry_could_match_an_unknown_field() -> None:
    assert NESTED.match3("blocked", [None]) is None
    assert IFACES.match3("s", [a("10.0.0.1"), None]) is None
    assert IFACES.match3("s", [a("11.0.0.1"), None]) is False
    assert PORTS.match3("s", [a("10.0.0.9"), (TCP, None)]) is False


def test_match_raises_when_the_verdict_depends_on_an_unknown_field() -> None:
    with pytest.raises(UndeterminedMatch):
        NESTED.match("blocked", [None])


def test_it_refuses_fewer_flags_than_the_set_has_dimensions() -> None:
    assert not PORTS.match("s", [a("10.0.0.1")])


def test_it_ignores_flags_beyond_the_set_dimension() -> None:
    assert NESTED.match("blocked", [a("10.2.0.1"), a("192.0.2.1")])


def test_it_takes_endpoints_and_the_evaluators_family_and_number_pairs() -> None:
    assert NESTED.match("blocked", [Endpoint(address=a("10.2.0.1"))])
    assert NESTED.lookup("blocked", [(4, int(a("10.2.0.1")))]) is True
    assert NESTED.lookup("blocked", [(6, 1)]) is False
    assert NESTED.lookup("blocked", [(4, None)]) is None
    assert NESTED.dimensions("blocked") == ("net",)


def test_it_knows_no_set_it_was_not_given() -> None:
    assert NESTED.lookup("other", [a("10.0.0.1")]) is None
    assert NESTED.dimensions("other") is None
    with pytest.raises(KeyError):
        NESTED.match("other", [a("10.0.0.1")])


def test_it_rejects_a_value_of_the_wrong_kind() -> None:
    with pytest.raises(TypeError):
        PORTS.match("s", [a("10.0.0.1"), 80])


def test_it_loads_a_dump_into_a_lookup_with_its_warnings() -> None:
    lookup, warnings = load_set_lookup("create s hash:ip shiny\nadd s 10.0.0.1\n", "h.ipset")
    assert lookup.lookup("s", [(4, int(a("10.0.0.1")))]) is True
    assert [str(w) for w in warnings] == ["h.ipset:1: unknown create option 'shiny'; kept"]


def test_it_answers_a_lookup_among_100000_members_in_microseconds() -> None:
    rng = random.Random(7)
    hosts = [IPv4Address(rng.getrandbits(32)) for _ in range(100_000)]
    index = sets("create big hash:ip maxelem 200000\n" + "".join(f"add big {h}\n" for h in hosts))
    probes = hosts[:5000] + [IPv4Address(rng.getrandbits(32)) for _ in range(5000)]
    start = time.process_time()  # CPU time: other work on the machine does not count
    found = sum(index.match("big", [p]) for p in probes)
    per_lookup = (time.process_time() - start) / len(probes)
    assert found >= 5000
    assert per_lookup < 50e-6, f"{per_lookup * 1e6:.1f} µs per lookup"


# -- properties ----------------------------------------------------------------------------

def brute_force_hash_net(entries: list[tuple[str, bool]], address: IPv4Address) -> bool:
    """The most specific stored network holding the address decides; the last add wins."""
    best: tuple[int, bool] | None = None
    for text, nomatch in entries:
        network = ip_network(text, strict=False)
        if address in network and (best is None or network.prefixlen >= best[0]):
            best = (network.prefixlen, nomatch)
    return best is not None and not best[1]


networks = st.tuples(st.integers(0, 2**32 - 1), st.integers(1, 32)).map(
    lambda t: str(ip_network(t, strict=False)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(networks, st.booleans()), max_size=30),
       st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=20))
def test_hash_net_agrees_with_a_brute_force_ipaddress_check(
        entries: list[tuple[str, bool]], probes: list[int]) -> None:
    text = "create s hash:net\n" + "".join(
        f"add s {net}{' nomatch' if nomatch else ''}\n" for net, nomatch in entries)
    index = sets(text)
    # Probe inside the stored networks too, where nesting and nomatch matter.
    addresses = [IPv4Address(p) for p in probes] + [
        IPv4Network(net)[-1] for net, _ in entries]
    for address in addresses:
        assert index.match("s", [address]) == brute_force_hash_net(entries, address), address


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(networks, networks, st.booleans()), max_size=15),
       st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_hash_net_net_gives_the_first_part_precedence_like_a_brute_force_check(
        entries: list[tuple[str, str, bool]], first: int, second: int) -> None:
    text = "create s hash:net,net\n" + "".join(
        f"add s {x},{y}{' nomatch' if nomatch else ''}\n" for x, y, nomatch in entries)
    src, dst = IPv4Address(first), IPv4Address(second)
    if entries:
        src, dst = IPv4Network(entries[0][0])[0], IPv4Network(entries[0][1])[-1]
    best: tuple[int, int, bool] | None = None
    for x, y, nomatch in entries:
        nx, ny = ip_network(x), ip_network(y)
        if src in nx and dst in ny and (best is None or (nx.prefixlen, ny.prefixlen) >= best[:2]):
            best = (nx.prefixlen, ny.prefixlen, nomatch)
    assert sets(text).match("s", [src, dst]) == (best is not None and not best[2])


# -- the real corpus ----------------------------------------------------------------------

def corpus_sets(*parts: str) -> SetIndex:
    path = CORPUS.joinpath(*parts)
    assert path.is_file(), f"the ipset corpus file is missing: {path}"
    return compile_sets(parse_ipset_save(path.read_text(), str(path)))


@pytest.mark.corpus
def test_the_saved_multi_restore_file_holds_what_its_source_adds() -> None:
    source = corpus_sets("netfilter-ipset-tests", "restore.t.multi")
    saved = corpus_sets("netfilter-ipset-tests", "restore.t.multi.saved")
    for name in ("priviledged-ports", "test-ports", "test-port"):
        for port in range(0, 30001, 7):
            assert source.match(name, [(TCP, port)]) == saved.match(name, [(TCP, port)])
    for last in range(160, 184):
        address = a(f"10.1.1.{last}")
        assert source.match("test-net", [address]) == saved.match("test-net", [address])


@pytest.mark.corpus
def test_the_sorted_iphash_file_holds_what_the_restore_file_adds() -> None:
    source = corpus_sets("netfilter-ipset-tests", "iphash.t.restore")
    saved = corpus_sets("netfilter-ipset-tests", "iphash.t.restore.sorted")
    for last in range(0, 256):
        address = a(f"10.0.0.{last}")
        assert source.match("test", [address]) == saved.match("test", [address])


@pytest.mark.corpus
def test_the_hash_net_iface_corpus_set_stops_at_its_most_specific_prefix() -> None:
    index = corpus_sets("netfilter-ipset-tests", "hash:net,iface.t.list1")
    assert index.match("test", [a("192.0.0.1"), "eth30"])
    assert not index.match("test", [a("192.0.0.1"), "eth4"])
    assert index.match("test", [a("207.0.0.1"), "eth4"])
