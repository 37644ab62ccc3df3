"""The iptables-save parser under fuzzing: any text gives a ruleset whose every rule decodes, or a
ParseError naming the file, line and column; never another exception."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from collectors.errors import ParseError
from collectors.iptables import BUILTIN_CHAINS, Ruleset, parse_iptables_save
from tests.fuzz.documents import FUZZ, NOISE, assert_located, damaged, texts

DUMPS = texts("tests/engine/data/*.iptables-save", "tests/engine/data/matrix/*.iptables-save",
              "tests/kernel/data/*.iptables-save", "fixtures/demo/hosts/*/*/iptables-save")
FILENAME = "node-12/iptables-save"

# Tokens of real rules, so that built lines are near-valid and reach the option decoder.
OPTIONS = ["-s", "-d", "-i", "-o", "-p", "-f", "-m", "-j", "-g", "-c", "--dport", "--sport",
           "--comment", "--match-set", "--ctstate", "--state", "--set-xmark", "--mark",
           "--to-destination", "--reject-with", "--log-prefix", "--tcp-flags", "--icmp-type",
           "--source", "--dst", "--set-counters", "--probability", "--mode"]
ARGS = ["tcp", "udp", "icmp", "comment", "set", "conntrack", "state", "mark", "multiport",
        "ACCEPT", "DROP", "REJECT", "RETURN", "DNAT", "LOG", "MARK", "INPUT", "KUBE-SERVICES",
        "10.0.0.0/8", "10.1.0.5/32", "2001:db8::/64", "22", "1:1024", "80,443", "0x4000/0x4000",
        "NEW,ESTABLISHED", "SYN,ACK", "src,dst", '"a b"', '"unterminated', "\\", "!", "[1:2]",
        "12", "-1", "0", "eth0", "cali+"]
TOKEN = st.sampled_from(OPTIONS) | st.sampled_from(ARGS) | NOISE


@st.composite
def rule_lines(draw: st.DrawFn, chains: list[str]) -> str:
    """`[p:b] -A CHAIN tokens...`, mostly well formed."""
    counters = draw(st.sampled_from(["", "[0:0] ", "[12:720] ", "[x:1] ", "[1:2", "[] "]))
    chain = draw(st.sampled_from(chains) | st.text(max_size=4))
    body = " ".join(draw(st.lists(TOKEN, max_size=10)))
    return f"{counters}-A {chain} {body}".rstrip()


@st.composite
def tables(draw: st.DrawFn) -> str:
    """Whole dumps built line by line: tables, chain declarations, rules, COMMITs, noise."""
    out = []
    for _ in range(draw(st.integers(1, 3))):
        table = draw(st.sampled_from([*BUILTIN_CHAINS, "broute", "Filter"]))
        chains = [*BUILTIN_CHAINS.get(table, ()), "seg-in", "KUBE-SVC"]
        out.append(f"*{table}")
        for chain in draw(st.lists(st.sampled_from(chains), max_size=5)):
            policy = draw(st.sampled_from(["ACCEPT", "DROP", "-", "REJECT", ""]))
            counters = draw(st.sampled_from(["[0:0]", "[3:180]", "[a:b]", "", "[1]"]))
            out.append(f":{chain} {policy} {counters}".rstrip())
        out.extend(draw(st.lists(rule_lines(chains) | NOISE, max_size=8)))
        if draw(st.booleans()) or draw(st.booleans()):
            out.append("COMMIT")
    return "\n".join(out) + draw(st.sampled_from(["", "\n", "\r\n"]))


def check(text: str) -> Ruleset | None:
    try:
        return parse_iptables_save(text, FILENAME).check()
    except ParseError as exc:
        assert_located(exc, FILENAME, text)
        return None


@FUZZ
@given(text=st.text())
def test_it_never_raises_on_random_text(text: str) -> None:
    check(text)


def test_it_ends_lines_only_at_newlines_as_iptables_restore_does() -> None:
    text = ('*filter\n:INPUT ACCEPT [0:0]\n'
            '-A INPUT -m comment --comment "a\u2028b\x1cc" -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n')

    ruleset = check(text)

    assert ruleset is not None
    assert [rule.line for rule in ruleset.rules()] == [3, 4]


@FUZZ
@given(text=tables())
def test_it_never_raises_on_dumps_built_from_rule_tokens(text: str) -> None:
    check(text)


@FUZZ
@given(text=damaged(DUMPS, TOKEN))
def test_it_never_raises_on_damaged_real_dumps(text: str) -> None:
    check(text)


@FUZZ
@given(text=damaged(DUMPS, TOKEN))
def test_it_reads_a_dump_the_same_with_and_without_remembering_rules(text: str) -> None:
    try:
        once = parse_iptables_save(text, FILENAME).check()
    except ParseError as exc:
        try:
            parse_iptables_save(text, FILENAME, remember_rules=True).check()
        except ParseError as again:
            assert str(again) == str(exc)
        else:
            raise AssertionError("remembering rules accepted what a one-off parse refused")
        return
    remembered = parse_iptables_save(text, FILENAME, remember_rules=True).check()
    assert remembered == once
