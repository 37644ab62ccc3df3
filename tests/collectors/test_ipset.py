"""The ipset parser reads `ipset save`/restore and `ipset list` output of every set type."""

from __future__ import annotations

import dataclasses
import os
from ipaddress import IPv4Address, IPv4Network, IPv6Network, ip_network
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.errors import ParseError
from collectors.ipset import (
    SET_TYPES,
    AddressRange,
    Interface,
    IpSetDump,
    IpsetParseError,
    PortValue,
    parse_ipset_save,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("SEGSCOPE_CORPUS", REPO_ROOT.parent / "shared" / "corpus")) / "ipset"


def parse(text: str) -> IpSetDump:
    return parse_ipset_save(text, "host.ipset")


def members(text: str, name: str = "s") -> list[tuple[object, ...]]:
    return [m.values for m in parse(text).sets[name].members]


def error(text: str) -> IpsetParseError:
    with pytest.raises(IpsetParseError) as caught:
        parse(text)
    return caught.value


# -- set types and elements ---------------------------------------------------------------

EVERY_TYPE = [
    ("bitmap:ip range 10.0.0.0/24", "10.0.0.1", (IPv4Network("10.0.0.1/32"),)),
    ("bitmap:ip,mac range 10.0.0.0/24", "10.0.0.1,AA:BB:CC:DD:EE:FF",
     (IPv4Network("10.0.0.1/32"), "aa:bb:cc:dd:ee:ff")),
    ("bitmap:port range 1-1024", "80", (PortValue(None, 80, 80),)),
    ("hash:ip", "192.0.2.1", (IPv4Network("192.0.2.1/32"),)),
    ("hash:mac", "0:1:2:3:4:5", ("00:01:02:03:04:05",)),
    ("hash:ip,mac", "192.0.2.1,00:11:22:33:44:55",
     (IPv4Network("192.0.2.1/32"), "00:11:22:33:44:55")),
    ("hash:net", "192.0.2.0/24", (IPv4Network("192.0.2.0/24"),)),
    ("hash:net,net", "192.0.2.0/24,198.51.100.0/25",
     (IPv4Network("192.0.2.0/24"), IPv4Network("198.51.100.0/25"))),
    ("hash:ip,port", "192.0.2.1,udp:53", (IPv4Network("192.0.2.1/32"), PortValue(17, 53, 53))),
    ("hash:net,port", "192.0.2.0/24,tcp:22", (IPv4Network("192.0.2.0/24"), PortValue(6, 22, 22))),
    ("hash:ip,port,ip", "192.0.2.1,tcp:80,198.51.100.1",
     (IPv4Network("192.0.2.1/32"), PortValue(6, 80, 80), IPv4Network("198.51.100.1/32"))),
    ("hash:ip,port,net", "192.0.2.1,tcp:80,198.51.100.0/24",
     (IPv4Network("192.0.2.1/32"), PortValue(6, 80, 80), IPv4Network("198.51.100.0/24"))),
    ("hash:ip,mark", "192.0.2.1,0x10", (IPv4Network("192.0.2.1/32"), 16)),
    ("hash:net,port,net", "192.0.2.0/24,sctp:9,0.0.0.0/0",
     (IPv4Network("192.0.2.0/24"), PortValue(132, 9, 9), IPv4Network("0.0.0.0/0"))),
    ("hash:net,iface", "192.0.2.0/24,eth0", (IPv4Network("192.0.2.0/24"), Interface("eth0"))),
    ("list:set", "other", ("other",)),
]


@pytest.mark.parametrize(("create", "element", "values"), EVERY_TYPE,
                         ids=[c.split()[0] for c, _, _ in EVERY_TYPE])
def test_it_reads_an_element_of_every_set_type(create: str, element: str,
                                               values: tuple[object, ...]) -> None:
    text = f"create other hash:ip\ncreate s {create}\nadd s {element}\n"
    ipset = parse(text).sets["s"]
    assert ipset.set_type == create.split()[0]
    assert ipset.members[0].values == values
    assert len(ipset.dimensions) == len(values)


def test_it_covers_every_set_type_of_ipset_7() -> None:
    assert {c.split()[0] for c, _, _ in EVERY_TYPE} == set(SET_TYPES)


def test_it_gives_hash_sets_family_inet_unless_told_otherwise() -> None:
    dump = parse("create a hash:ip\ncreate b hash:net family inet6\ncreate c hash:mac\n"
                 "create d list:set\ncreate e bitmap:port range 1-2\n")
    assert [s.family for s in dump.sets.values()] == ["inet", "inet6", None, None, None]


def test_it_reads_ipv6_addresses_and_networks() -> None:
    text = "create s hash:net family inet6\nadd s 2001:db8::/32\nadd s [2001:db8::1]\n"
    assert members(text) == [(IPv6Network("2001:db8::/32"),), (IPv6Network("2001:db8::1/128"),)]


def test_it_keeps_address_ranges_as_ranges() -> None:
    (value,), = members("create s hash:net\nadd s 192.168.1.1-192.168.1.10\n")
    assert value == AddressRange(IPv4Address("192.168.1.1"), IPv4Address("192.168.1.10"))
    assert [str(n) for n in value.networks()] == [
        "192.168.1.1/32", "192.168.1.2/31", "192.168.1.4/30", "192.168.1.8/31", "192.168.1.10/32"]


def test_it_swaps_a_reversed_range_as_ipset_does() -> None:
    (value,), = members("create s hash:ip\nadd s 10.0.0.9-10.0.0.1\n")
    assert value == AddressRange(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.9"))


def test_it_masks_the_host_bits_of_a_cidr() -> None:
    assert members("create s hash:net\nadd s 10.1.2.3/16\n") == [(IPv4Network("10.1.0.0/16"),)]


def test_it_reads_abbreviated_ipv4_addresses_as_inet_aton_does() -> None:
    dump = parse("create s hash:net\nadd s 192.168.1/24\nadd s 127.1\nadd s 012.0.0.1\n")
    assert [m.values[0] for m in dump.sets["s"].members] == [
        IPv4Network("192.168.0.0/24"), IPv4Network("127.0.0.1/32"), IPv4Network("10.0.0.1/32")]
    assert len(dump.warnings) == 3
    assert "read as 192.168.0.1" in dump.warnings[0].message


@pytest.mark.parametrize(("text", "value"), [
    ("80", PortValue(6, 80, 80)),
    ("tcp:80-90", PortValue(6, 80, 90)),
    ("UDP:90-85", PortValue(17, 85, 90)),
    ("udplite:5", PortValue(136, 5, 5)),
    ("sctp:[ftp-data]", PortValue(132, 20, 20)),
    ("http", PortValue(6, 80, 80)),
    ("icmp:echo-request", PortValue(1, 8 << 8, 8 << 8)),
    ("icmp:ping", PortValue(1, 8 << 8, 8 << 8)),
    ("icmp:3/1", PortValue(1, 3 << 8 | 1, 3 << 8 | 1)),
    ("icmp:TOS-host-redirect", PortValue(1, 5 << 8 | 3, 5 << 8 | 3)),
    ("gre:0", PortValue(47, 0, 0)),
    ("47:0", PortValue(47, 0, 0)),
    ("vrrp:0", PortValue(112, 0, 0)),
])
def test_it_reads_protocol_and_port_parts(text: str, value: PortValue) -> None:
    assert members(f"create s hash:ip,port\nadd s 10.0.0.1,{text}\n")[0][1] == value


@pytest.mark.parametrize(("text", "value"), [
    ("icmpv6:echo-request", 128 << 8),
    ("ipv6-icmp:port-unreachable", 1 << 8 | 4),
    ("icmpv6:1/3", 1 << 8 | 3),
])
def test_it_reads_icmpv6_names_and_type_codes(text: str, value: int) -> None:
    port = members(f"create s hash:ip,port family inet6\nadd s ::1,{text}\n")[0][1]
    assert port == PortValue(58, value, value)


def test_it_prints_ports_as_ipset_save_does() -> None:
    assert [str(PortValue(6, 80, 80)), str(PortValue(17, 1, 9)), str(PortValue(1, 2048, 2048)),
            str(PortValue(58, 32768, 32768)), str(PortValue(None, 5, 5))] == [
        "tcp:80", "udp:1-9", "icmp:8/0", "ipv6-icmp:128/0", "5"]


def test_it_reads_interfaces_and_bridge_ports() -> None:
    text = ("create s hash:net,iface\nadd s 10.0.0.0/8,physdev:eth1\n"
            "add s 10.0.0.0/8,eth+ wildcard\n")
    dump = parse(text)
    first, second = dump.sets["s"].members
    assert first.values[1] == Interface("eth1", physdev=True)
    assert second.values[1] == Interface("eth+") and second.wildcard


def test_it_reads_marks_in_hex_decimal_and_octal() -> None:
    text = "create s hash:ip,mark markmask 0xff00\nadd s 1.1.1.1,0x63\nadd s 1.1.1.1,555\n" \
           "add s 1.1.1.1,010\n"
    dump = parse(text)
    assert [m.values[1] for m in dump.sets["s"].members] == [0x63, 555, 8]
    assert dump.sets["s"].options["markmask"] == 0xFF00


def test_it_reads_a_bitmap_ip_mac_element_without_its_mac() -> None:
    assert members("create s bitmap:ip,mac range 10.0.0.0/24\nadd s 10.0.0.7\n") == [
        (IPv4Network("10.0.0.7/32"), None)]


def test_it_orders_list_set_members_with_before_and_after() -> None:
    text = ("create a hash:ip\ncreate b hash:ip\ncreate c hash:ip\ncreate d hash:ip\n"
            "create l list:set size 8\nadd l a\nadd l c\nadd l b before c\nadd l d after a\n")
    assert [v[0] for v in members(text, "l")] == ["a", "d", "b", "c"]


# -- options ------------------------------------------------------------------------------

def test_it_reads_every_create_option() -> None:
    text = ("create s hash:ip family inet hashsize 1024 maxelem 100000 netmask 24 timeout 300 "
            "counters comment skbinfo forceadd bucketsize 12 initval 0x12345678\n")
    options = dict(parse(text).sets["s"].options)
    assert options == {"family": "inet", "hashsize": 1024, "maxelem": 100000, "netmask": 24,
                       "timeout": 300, "counters": True, "comment": True, "skbinfo": True,
                       "forceadd": True, "bucketsize": 12, "initval": 0x12345678}


def test_it_reads_bitmap_ranges_and_netmasks() -> None:
    dump = parse("create a bitmap:ip range 10.0.0.0/24 netmask 30\n"
                 "create p bitmap:port range tcp:1-1023\n")
    assert dump.sets["a"].options["range"] == AddressRange(IPv4Address("10.0.0.0"),
                                                           IPv4Address("10.0.0.255"))
    assert dump.sets["a"].options["netmask"] == 30
    assert dump.sets["p"].options["range"] == (1, 1023)


def test_it_reads_per_element_timeout_counters_comment_and_skbinfo() -> None:
    text = ("create s hash:ip timeout 100 counters comment skbinfo\n"
            'add s 10.0.0.4 timeout 50 packets 3 bytes 300 comment "hi there" '
            "skbmark 0x10/0xff skbprio 1:2 skbqueue 3\n"
            "add s 10.0.0.5 skbmark 0x20\n")
    first, second = parse(text).sets["s"].members
    assert (first.timeout, first.packets, first.bytes, first.comment) == (50, 3, 300, "hi there")
    assert (first.skbmark, first.skbprio, first.skbqueue) == ((0x10, 0xFF), (1, 2), 3)
    assert second.skbmark == (0x20, 0xFFFFFFFF) and second.timeout is None


def test_it_reads_nomatch_per_element() -> None:
    dump = parse("create s hash:net\nadd s 10.0.0.0/8\nadd s 10.1.0.0/16 nomatch\n")
    assert [m.nomatch for m in dump.sets["s"].members] == [False, True]


def test_it_keeps_unknown_create_options_as_warnings_with_file_and_line() -> None:
    dump = parse("\ncreate s hash:ip frobnicate 7 shiny\n")
    assert dump.sets["s"].options["frobnicate"] == "7"
    assert dump.sets["s"].options["shiny"] is True
    assert [str(w) for w in dump.warnings] == [
        "host.ipset:2: unknown create option 'frobnicate' with value '7'; kept",
        "host.ipset:2: unknown create option 'shiny'; kept"]


def test_it_keeps_unknown_element_options_as_warnings() -> None:
    dump = parse("create s hash:ip\nadd s 10.0.0.1 sparkle 3 timeout 5\n")
    member = dump.sets["s"].members[0]
    assert member.extra == (("sparkle", "3"),) and member.timeout == 5
    assert dump.warnings[0].line == 2 and "sparkle" in dump.warnings[0].message


def test_it_warns_that_nomatch_has_no_effect_outside_net_types() -> None:
    dump = parse("create s hash:ip\nadd s 10.0.0.1 nomatch\n")
    assert not dump.sets["s"].members[0].nomatch
    assert "nomatch has no effect" in dump.warnings[0].message


def test_it_warns_once_per_set_about_redacted_timeouts() -> None:
    dump = parse("create s hash:ip timeout x\nadd s 1.1.1.1 timeout x\nadd s 1.1.1.2 timeout x\n")
    assert [w.line for w in dump.warnings] == [1, 2]
    assert dump.sets["s"].members[1].timeout is None


# -- restore commands, old syntax and ipset list ---------------------------------------------

def test_it_applies_rename_swap_flush_destroy_and_del() -> None:
    text = ("create a hash:ip family inet6\nadd a 1::1\nadd a 2::2\n"
            "create b hash:ip family inet6\nadd b 3::3\n"
            "rename a c\nswap c b\nrename c a\nadd a a::a\ndel b 2::2\n"
            "create gone hash:ip\ncreate empty hash:ip\nadd empty 1.1.1.1\n"
            "destroy gone\nflush empty\n")
    dump = parse(text)
    assert list(dump.sets) == ["a", "b", "empty"]
    assert [str(m.values[0]) for m in dump.sets["a"].members] == ["3::3/128", "a::a/128"]
    assert [str(m.values[0]) for m in dump.sets["b"].members] == ["1::1/128"]
    assert dump.sets["empty"].members == ()


def test_it_reads_the_ipset_4_and_6_command_letters_and_type_names() -> None:
    text = ("-N old iphash --hashsize 64 --probes 8 --resize 50\n-A old 10.0.0.1\n"
            "-N ports portmap --from 1 --to 100\n-N ips ipmap --network 10.0.0.0/24\n"
            "-N tree iptree\nCOMMIT\n")
    dump = parse(text)
    assert [s.set_type for s in dump.sets.values()] == [
        "hash:ip", "bitmap:port", "bitmap:ip", "hash:ip"]
    assert dump.sets["old"].options["hashsize"] == 64
    assert dump.sets["ports"].options["range"] == (1, 100)
    assert dump.sets["ips"].options["range"] == AddressRange(IPv4Address("10.0.0.0"),
                                                             IPv4Address("10.0.0.255"))
    assert [w.line for w in dump.warnings] == [1, 1, 5]


def test_it_ignores_exist_flags_comments_and_blank_lines() -> None:
    text = "# saved\n\n-exist create s hash:ip\nadd -exist s 10.0.0.1\nadd s 10.0.0.2 -exist\n"
    assert len(members(text)) == 2


def test_it_keeps_the_first_definition_of_a_set_created_twice() -> None:
    dump = parse("create s hash:ip\nadd s 1.1.1.1\ncreate s hash:ip\n")
    assert len(dump.sets["s"].members) == 1
    assert "created again" in dump.warnings[0].message


LISTING = """Name: blocked
Type: hash:net
Revision: 7
Header: family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x5a1b2c3d
Size in memory: 1304
References: 2
Number of entries: 2
Members:
10.0.0.0/8
10.1.0.0/16 nomatch

Name: macs
Type: hash:mac
Revision: 1
Header: hashsize 1024 maxelem 65536 skbinfo
Members:
01:02:03:04:05:07 skbmark 0x1234ab/0xffff
"""


def test_it_reads_ipset_list_output() -> None:
    dump = parse(LISTING)
    assert dump.format == "list"
    blocked = dump.sets["blocked"]
    assert (blocked.set_type, blocked.family, blocked.revision, blocked.line) == (
        "hash:net", "inet", 7, 1)
    assert [(m.values[0], m.nomatch, m.line) for m in blocked.members] == [
        (IPv4Network("10.0.0.0/8"), False, 9), (IPv4Network("10.1.0.0/16"), True, 10)]
    assert dump.sets["macs"].members[0].skbmark == (0x1234AB, 0xFFFF)
    assert dump.warnings == ()


def test_it_infers_the_family_of_a_listing_without_header() -> None:
    dump = parse("    Name: v6\n    Type: hash:net\n    Members:\n    [1234::4321]\n")
    assert dump.sets["v6"].family == "inet6"
    assert dump.sets["v6"].members[0].values == (IPv6Network("1234::4321/128"),)
    assert "inferred" in dump.warnings[0].message


def test_it_keeps_the_later_listing_of_a_set_listed_twice() -> None:
    text = LISTING + "\nName: blocked\nType: hash:ip\nMembers:\n1.2.3.4\n"
    dump = parse(text)
    assert dump.sets["blocked"].set_type == "hash:ip"
    assert any("listed again" in w.message for w in dump.warnings)


def test_it_warns_when_a_list_set_names_a_set_missing_from_the_dump() -> None:
    dump = parse("create l list:set\nadd l elsewhere\n")
    assert dump.warnings[0].line == 2 and "not in this dump" in dump.warnings[0].message


# -- errors -------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "where", "reason"), [
    ("add nowhere 10.0.0.1\n", "1:5", "set 'nowhere' is not defined"),
    ("create s hash:ip\nadd s 10.0.0.300\n", "2:7", "bad inet address '10.0.0.300'"),
    ("create s hash:ip\nadd s 2001:db8::1\n", "2:7", "bad inet address"),
    ("create s hash:ip,port\nadd s 10.0.0.1,tcp:99999\n", "2:20", "bad port '99999'"),
    ("create s hash:ip,port\nadd s 10.0.0.1,gre:5\n", "2:20", "pseudo port value 0 only"),
    ("create s hash:ip,port\nadd s 10.0.0.1,icmp:8\n", "2:21", "ICMP type/code"),
    ("create s hash:ip,port\nadd s 10.0.0.1,frob:1\n", "2:16", "unknown or zero protocol"),
    ("create s hash:ip,port family inet6\nadd s ::1,icmp:ping\n", "2:16", "family inet only"),
    ("create s hash:net family inet6\nadd s ::1-::9\n", "2:7", "IPv6 ranges"),
    ("create s hash:net\nadd s 0.0.0.0/0\n", "2:7", "zero prefix length"),
    ("create s hash:net\nadd s 10.0.0.0/33\n", "2:16", "bad prefix length '33'"),
    ("create s hash:net,port\nadd s 10.0.0.0/8\n", "2:7", "2 comma-separated parts"),
    ("create s hash:mac\nadd s 00:00:00:00:00:00\n", "2:7", "zero MAC"),
    ("create s hash:mac\nadd s 00:11:22:33:44\n", "2:7", "bad MAC address"),
    ("create s hash:ip,mark\nadd s 1.1.1.1,0x100000000\n", "2:15", "bad mark"),
    ("create s hash:net,iface\nadd s 10.0.0.0/8,averyveryverylongname\n", "2:18", "bad interface"),
    ("create s hash:ip comment\nadd s 1.1.1.1 comment \"open\n", "2:23", "unterminated"),
    ("create s hash:ip\nadd s [db.example.com]\n", "2:7", "bad inet address"),
    ("create s hash:ipx\n", "1:10", "unknown set type 'hash:ipx'"),
    ("create s bitmap:ip,mac family inet6 range 10.0.0.0/24\n", "1:31", "family inet only"),
    ("create s hash:ip netmask 40\n", "1:26", "netmask 40 is out of range"),
    ("create s hash:ip maxelem\n", "1:18", "needs a value"),
    ("frobnicate s\n", "1:1", "unknown ipset command 'frobnicate'"),
    ("create s\n", "1:9", "missing set name and type"),
    ("create a hash:ip\ncreate b hash:ip\nrename a b\n", "3:10", "it exists"),
    ("create s hash:ip\nadd s 1.1.1.1 before t\n", "2:22", "list:set only"),
    ("Name: s\nMembers:\n", "2:1", "before the set's `Type:` line"),
    ("Name: s\nType: hash:ip\nColour: red\n", "3:1", "expected a `Name:`"),
    ("<ipsets>\n", "1:1", "XML"),
])
def test_it_reports_what_it_cannot_understand_with_file_line_and_column(
        text: str, where: str, reason: str) -> None:
    caught = error(text)
    assert str(caught).startswith(f"host.ipset:{where}: ")
    assert reason in caught.reason


def test_its_errors_are_the_shared_parse_error() -> None:
    caught = error("add nowhere 1.1.1.1\n")
    assert isinstance(caught, ParseError)
    assert (caught.filename, caught.line, caught.column) == ("host.ipset", 1, 5)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([
    "create", "add", "del", "s", "hash:net", "hash:ip,port", "list:set", "bitmap:port",
    "10.0.0.0/8", "1.2.3.4-1.2.3.9", "tcp:80", "icmp:8/0", "nomatch", "timeout", "5", "x",
    '"a', 'b"', "range", "1-9", "Name:", "Type:", "Members:", "\n", "\n", "-N", "family",
    "inet6", "::1", ",", "[", "]", "comment", "before",
]), max_size=30))
def test_it_either_parses_or_raises_a_parse_error_for_any_input(words: list[str]) -> None:
    try:
        parse(" ".join(words))
    except IpsetParseError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(1, 32), st.booleans()),
                max_size=20))
def test_it_reads_back_what_ipset_save_would_print(entries: list[tuple[int, int, bool]]) -> None:
    nets = [(ip_network((a, p), strict=False), nomatch) for a, p, nomatch in entries]
    text = "create s hash:net family inet\n" + "".join(
        f"add s {n}{' nomatch' if nomatch else ''}\n" for n, nomatch in nets)
    dump = parse(text)
    assert [(m.values[0], m.nomatch) for m in dump.sets["s"].members] == nets


def test_its_values_are_immutable() -> None:
    ipset = parse("create s hash:ip\nadd s 1.1.1.1\n").sets["s"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ipset.members[0].nomatch = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        ipset.options["family"] = "inet6"  # type: ignore[index]


# -- the real corpus ----------------------------------------------------------------------

def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return [CORPUS / "MISSING"]
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and not p.name.startswith("COPY"))


def read_corpus(path: Path) -> IpSetDump:
    assert CORPUS.is_dir(), f"the ipset corpus is missing: expected it at {CORPUS}"
    return parse_ipset_save(path.read_text(), str(path.relative_to(CORPUS.parent)))


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_it_reads_every_corpus_file(path: Path) -> None:
    dump = read_corpus(path)
    assert dump.sets
    assert all(str(w).startswith(f"ipset/{path.parent.name}/{path.name}:") for w in dump.warnings)


@pytest.mark.corpus
def test_it_reads_the_skbinfo_of_the_hash_mac_corpus_file() -> None:
    dump = read_corpus(CORPUS / "netfilter-ipset-tests" / "hash:mac.t.list1")
    last = dump.sets["test"].members[-1]
    assert last.values == ("01:02:03:04:05:11",)
    assert (last.skbmark, last.skbprio, last.skbqueue) == ((0x11223344, 0xFFFF0000), (2, 1), 8)


@pytest.mark.corpus
def test_it_replays_rename_and_swap_in_the_restore_corpus_file_as_the_kernel_did() -> None:
    # `ipset restore` of this file on Linux 6.18 leaves a = {3::3, 4::4, a::a}, b = {1::1, ...}.
    dump = read_corpus(CORPUS / "netfilter-ipset-tests" / "restore.t.restore")
    assert {str(m.values[0]) for m in dump.sets["a"].members} == {"3::3/128", "4::4/128",
                                                                  "a::a/128"}
    assert {str(m.values[0]) for m in dump.sets["b"].members} == {"1::1/128", "2::2/128",
                                                                  "b::b/128"}


@pytest.mark.corpus
def test_it_reads_every_element_of_the_saved_multi_restore_corpus_file() -> None:
    dump = read_corpus(CORPUS / "netfilter-ipset-tests" / "restore.t.multi.saved")
    assert {n: len(s.members) for n, s in dump.sets.items()} == {
        "priviledged-ports": 1023, "test-net": 8, "test-ports": 16, "test-port": 1}
    assert dump.sets["test-net"].options["range"] == AddressRange(
        IPv4Address("10.1.1.168"), IPv4Address("10.1.1.175"))


@pytest.mark.corpus
def test_it_infers_inet6_for_the_firewalld_listing_without_headers() -> None:
    name = "features__ipset_defer_native_ipset_creation.ipset-list.txt"
    path = CORPUS / "firewalld-testsuite" / name
    dump = read_corpus(path)
    assert dump.sets["foobar6"].family == "inet6"
    assert dump.sets["foobar6"].members[0].values == (IPv6Network("1234::4321/128"),)
