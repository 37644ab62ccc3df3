"""The ipset parser under fuzzing: `ipset save` and `ipset list` text of any shape gives a dump or
an IpsetParseError naming the file, line and column; never another exception."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from collectors.ipset import SET_TYPES, IpSetDump, IpsetParseError, parse_ipset_save
from tests.fuzz.documents import FUZZ, NOISE, assert_located, damaged, texts

DUMPS = texts("fixtures/demo/hosts/*/*/ipset-save")
FILENAME = "node-12/ipset-save"

# Values of every element part, valid and not, so that built elements reach each reader.
PARTS = {
    "ip": ["10.0.0.1", "10.0.0.1-10.0.0.9", "10.0.0.0/30", "::1", "[2001:db8::1]", "10.0.0.300",
           "1.2.3", "0.0.0.0/0", "::1-::9", "10.0.0.9-10.0.0.1"],
    "net": ["10.0.0.0/8", "2001:db8::/32", "10.0.0.0/33", "10.0.0.0/", "/8", "10.1.2.3-10.1.2.9"],
    "port": ["80", "tcp:80", "udp:1-1024", "icmp:8/0", "icmp:ping", "icmpv6:echo-request",
             "sctp:1", "gre:0", "tcp:99999", "tcp:", "tcp:9-1", "http", ":"],
    "mac": ["aa:bb:cc:dd:ee:ff", "0:1:2:3:4:5", "00:00:00:00:00:00", "zz:bb:cc:dd:ee:ff"],
    "iface": ["eth0", "physdev:eth1", "eth+", "averyveryverylongname", ""],
    "mark": ["0x63", "555", "010", "0x100000000", "-1"],
    "set": ["a", "b", "missing"],
}
OPTIONS = ["family", "inet", "inet6", "hashsize", "1024", "maxelem", "65536", "netmask", "24",
           "timeout", "300", "counters", "comment", '"a b"', '"open', "skbinfo", "skbmark",
           "0x20/0xff", "skbprio", "1:2", "skbqueue", "forceadd", "bucketsize", "initval",
           "0x12345678", "range", "10.0.0.0/24", "1-1024", "tcp:1-1023", "size", "8",
           "packets", "bytes", "nomatch", "before", "after", "wildcard", "markmask"]


@st.composite
def elements(draw: st.DrawFn, set_type: str) -> str:
    kinds = SET_TYPES.get(set_type, ("ip",))
    if draw(st.booleans()):
        kinds = draw(st.lists(st.sampled_from(sorted(PARTS)), min_size=1, max_size=3))
    return ",".join(draw(st.sampled_from(PARTS.get(kind, PARTS["ip"]))) for kind in kinds)


@st.composite
def save_dumps(draw: st.DrawFn) -> str:
    """`create`/`add`/`del`/... lines over a few sets of every type."""
    names = ["a", "b", "l"]
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        name = draw(st.sampled_from(names))
        set_type = draw(st.sampled_from([*SET_TYPES, "hash:ipx", "iphash", "nethash"]))
        command = draw(st.sampled_from(["create", "add", "del", "-N", "-A", "flush", "destroy",
                                        "rename", "swap", "test"]))
        if command in ("create", "-N"):
            words = [set_type, *draw(st.lists(st.sampled_from(OPTIONS), max_size=6))]
        elif command in ("add", "-A", "del", "test"):
            words = [draw(elements(set_type)), *draw(st.lists(st.sampled_from(OPTIONS),
                                                              max_size=3))]
        else:
            words = draw(st.lists(st.sampled_from(names), max_size=2))
        lines.append(" ".join([command, name, *words]))
    return "\n".join(lines)


@st.composite
def listings(draw: st.DrawFn) -> str:
    """`ipset list` blocks with headers and members, keys sometimes out of order."""
    blocks = []
    for name in draw(st.lists(st.sampled_from(["a", "b", "v6"]), min_size=1, max_size=3)):
        set_type = draw(st.sampled_from([*SET_TYPES, "hash:ipx"]))
        header = " ".join(draw(st.lists(st.sampled_from(OPTIONS), max_size=6)))
        lines = [f"Name: {name}", f"Type: {set_type}", "Revision: 7", f"Header: {header}",
                 "Size in memory: 1304", "References: 2", "Number of entries: 2", "Members:"]
        lines += draw(st.lists(elements(set_type), max_size=4))
        if draw(st.booleans()):
            lines = draw(st.permutations(lines))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def check(text: str) -> IpSetDump | None:
    try:
        return parse_ipset_save(text, FILENAME)
    except IpsetParseError as exc:
        assert_located(exc, FILENAME, text)
        return None


@FUZZ
@given(text=st.text())
@example(text="create s hash:ip\nadd s 10.0.0.1\x00\n")  # a NUL made inet_pton raise ValueError
@example(text="create s hash:ip,port\nadd s 10.0\x00.0.1,80\n")
def test_it_never_raises_on_random_text(text: str) -> None:
    check(text)


def test_it_ends_lines_only_at_newlines_as_ipset_restore_does() -> None:
    text = 'create s hash:ip comment\nadd s 10.0.0.1 comment "a\u2028b\x1cc"\nadd s 10.0.0.2\n'

    dump = check(text)

    assert dump is not None
    assert [m.line for m in dump.sets["s"].members] == [2, 3]


@FUZZ
@given(text=save_dumps())
def test_it_never_raises_on_save_dumps_built_from_set_types_and_elements(text: str) -> None:
    check(text)


@FUZZ
@given(text=listings())
def test_it_never_raises_on_listings_built_from_set_types_and_elements(text: str) -> None:
    check(text)


@FUZZ
@given(text=damaged(DUMPS, NOISE | st.sampled_from(OPTIONS + PARTS["port"] + PARTS["ip"])))
def test_it_never_raises_on_damaged_real_dumps(text: str) -> None:
    check(text)
