"""The `nft -j list ruleset` parser under fuzzing: any text gives a ruleset (what it does not model
kept and reported) or a ParseError naming the file, line and column; never another exception."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from collectors.errors import ParseError
from collectors.nft import NftRuleset, parse_nft_json, render_rule, report_ruleset
from tests.fuzz.documents import (
    FUZZ,
    NOISE,
    assert_located,
    damaged,
    json_values,
    mutated_json,
    texts,
)

DUMPS = texts("tests/kernel/data/*.nft.json", "fixtures/demo/hosts/*/*/nft.json")
DOCUMENTS = [json.loads(text) for text in DUMPS]
FILENAME = "node-12/nft.json"

KEYS = ["nftables", "metainfo", "table", "chain", "rule", "set", "map", "element", "add",
        "insert", "counter", "quota", "limit", "ct helper", "family", "name", "table", "chain",
        "handle", "type", "hook", "prio", "policy", "dev", "expr", "elem", "flags", "timeout",
        "comment", "match", "op", "left", "right", "payload", "protocol", "field", "meta",
        "key", "prefix", "addr", "len", "range", "set", "jump", "goto", "accept", "drop",
        "reject", "xt", "ct", "dir", "lookup", "vmap", "concat", "map", "typeof", "val",
        "packets", "bytes", "json_schema_version", "version", "data", "tcp option", "&", "|"]
SCALARS: list[object] = [
    "ip", "ip6", "inet", "arp", "bridge", "netdev", "filter", "nat", "input", "forward",
    "output", "prerouting", "accept", "drop", "==", "!=", "in", "<", "saddr", "daddr", "dport",
    "tcp", "udp", "l4proto", "iifname", "state", "established", "10.0.0.0", "2001:db8::",
    "@seg", "ipv4_addr", "inet_service", "dstnat", "raw", -300, 0, 24, 65535, 2**64,
]
VALUES = json_values(KEYS, SCALARS)


def check(text: str) -> NftRuleset | None:
    try:
        ruleset = parse_nft_json(text, FILENAME)
    except ParseError as exc:
        assert_located(exc, FILENAME, text)
        return None
    report_ruleset(ruleset)
    for chain in ruleset.chains():
        for rule in chain.rules:
            assert rule.text == render_rule(rule.expr) + (
                f' comment "{rule.comment}"' if rule.comment else "")
    return ruleset


@FUZZ
@given(text=st.text())
def test_it_never_raises_on_random_text(text: str) -> None:
    check(text)


@FUZZ
@given(doc=VALUES, indent=st.sampled_from([None, 1]))
def test_it_never_raises_on_random_json_of_nft_keys_and_values(doc: object,
                                                               indent: int | None) -> None:
    check(json.dumps({"nftables": doc if isinstance(doc, list) else [doc]}, indent=indent))


@FUZZ
@given(doc=mutated_json(DOCUMENTS, VALUES), indent=st.sampled_from([None, 2]))
def test_it_never_raises_on_real_dumps_with_values_changed(doc: object,
                                                            indent: int | None) -> None:
    check(json.dumps(doc, indent=indent))


@FUZZ
@given(text=damaged(DUMPS + [json.dumps(d, indent=1) for d in DOCUMENTS[:1]], NOISE))
def test_it_never_raises_on_damaged_real_dumps(text: str) -> None:
    check(text)
