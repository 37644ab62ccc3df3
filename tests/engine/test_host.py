"""A host with both dumps: iptables-nft's tables appear in `nft -j list ruleset` too."""

from pathlib import Path

from webapp.engine.host import load_host
from webapp.engine.packet import Packet

DATA = Path(__file__).resolve().parents[1] / "kernel" / "data"
IPTABLES = (DATA / "lab-rules.iptables-save").read_text()
NFT = (DATA / "lab-rules.nft.json").read_text()


def probe(dport: int) -> Packet:
    return Packet(src="10.9.1.1", dst="192.0.2.5", proto="tcp", sport=40000, dport=dport,
                  in_iface="eth0")


def test_iptables_nft_tables_are_evaluated_once_from_the_iptables_dump():
    both = load_host(iptables=IPTABLES, nft_json=NFT)
    only_iptables = load_host(iptables=IPTABLES)

    nft_tables = {(c.chain.family, c.chain.table) for c in both.nft_chains[4]}  # type: ignore[attr-defined]
    assert nft_tables == {("ip", "ssk_trace")}
    for dport in (22, 80, 443, 8080):
        assert both.explain(probe(dport)).decided_by == only_iptables.explain(
            probe(dport)).decided_by


def test_without_the_iptables_dump_the_nft_copies_run_and_a_warning_says_why():
    host = load_host(nft_json=NFT)

    assert ("ip", "filter") in {(c.chain.family, c.chain.table)  # type: ignore[attr-defined]
                                for c in host.nft_chains[4]}
    assert any("iptables-nft" in w.message for w in host.warnings)
    result = host.explain(probe(22))
    # The compat (xt) expressions iptables-nft leaves are not modelled: said, never guessed.
    assert result.verdict == "UNKNOWN"
    assert any("xt " in condition for condition in result.depends_on)


def _table(name: str, handle: int, verdict: str) -> list[dict]:
    return [
        {"table": {"family": "inet", "name": name, "handle": handle}},
        {"chain": {"family": "inet", "table": name, "name": "in", "handle": 1, "type": "filter",
                   "hook": "input", "prio": 0, "policy": "accept"}},
        {"rule": {"family": "inet", "table": name, "chain": "in", "handle": 2,
                  "expr": [{verdict: None}]}},
    ]


def test_at_equal_priority_the_chain_registered_last_runs_first():
    import json

    listing = json.dumps({"nftables": _table("first", 1, "drop") + _table("second", 2, "drop")})
    result = load_host(nft_json=listing).explain(probe(22))
    assert (result.verdict, result.decided_by.table) == ("DROP", "second")


SETS = "create peers hash:ip family inet\nadd peers 10.9.1.1\n"
RULES = """*filter
:INPUT DROP [0:0]
-A INPUT -p tcp -m set --match-set peers src -m tcp --dport {port} -j ACCEPT
COMMIT
"""
NAMES = ("hosts/a/iptables-save", "hosts/a/ip6tables-save", "hosts/a/ipset-save",
         "hosts/a/nft.json")


def test_new_rules_with_the_same_sets_share_the_sets_parsed_before():
    before = load_host(iptables=RULES.format(port=22), ipset=SETS, names=NAMES)
    after = load_host(iptables=RULES.format(port=80), ipset=SETS, names=NAMES)

    assert after.ipsets is before.ipsets
    assert after.explain(probe(80)).verdict == "ACCEPT"
    assert after.explain(probe(22)).verdict == "DROP"


def test_changed_sets_are_parsed_again():
    first = load_host(iptables=RULES.format(port=22), ipset=SETS, names=NAMES)
    other = load_host(iptables=RULES.format(port=22), ipset=SETS.replace("10.9.1.1", "10.9.1.2"),
                      names=NAMES)

    assert other.ipsets is not first.ipsets
    assert first.explain(probe(22)).verdict == "ACCEPT"
    assert other.explain(probe(22)).verdict == "DROP"  # 10.9.1.1 left the set
