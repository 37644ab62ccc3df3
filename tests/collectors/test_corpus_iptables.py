"""Every iptables-save dump of the shared corpus parses, compiles and can be explained."""

import pytest

from webapp.engine.host import load_host
from webapp.engine.packet import Packet
from webapp.engine.report import report_paths

pytestmark = pytest.mark.corpus

# Files in the corpus that hold no iptables-save dump, and why.
NOT_DUMPS = {
    "fffuu.out.txt": "fffuu's own printout of a parsed ruleset, not iptables-save output",
}


@pytest.fixture(scope="module")
def reports(corpus_dir):
    return list(report_paths([corpus_dir / "iptables"]))


def test_every_dump_parses_and_compiles(reports):
    failures = {}
    for entry in reports:
        name = entry["file"].rsplit("/", 1)[-1]
        if entry["error"] and name not in NOT_DUMPS:
            failures[entry["file"]] = entry["error"]
    assert failures == {}


def test_files_that_are_not_dumps_are_reported_with_their_line(reports):
    entries = {e["file"].rsplit("/", 1)[-1]: e for e in reports}
    for name in NOT_DUMPS:
        assert entries[name]["error"] and ":20:" in entries[name]["error"]


def test_the_report_counts_rules_as_the_manifest_does(corpus_dir, reports):
    manifest = {}
    manifest_file = corpus_dir / "iptables" / "net-network" / "MANIFEST.tsv"
    for line in manifest_file.read_text().splitlines()[1:]:
        path, rules, *_ = line.split("\t")
        manifest[path] = int(rules)
    reports = {e["file"].split("net-network/", 1)[-1]: e for e in reports
               if "net-network/" in e["file"] and not e["error"]}
    checked = {path: (reports[path]["rules"], expected) for path, expected in manifest.items()
               if path in reports and "about_NOTRACK" not in path}
    assert len(checked) > 50
    assert {p: v for p, v in checked.items() if v[0] != v[1]} == {}


def test_unmodelled_modules_are_listed_per_file(reports):
    entries = {e["file"].rsplit("/", 1)[-1]: e for e in reports}
    assert entries["typical_home_user_iptables-save"]["unmodelled"] == {
        "connlimit": 1, "hashlimit": 6, "owner": 4, "recent": 6}


def test_every_dump_answers_a_probe_on_each_hook(reports):
    for entry in reports:
        if entry["error"]:
            continue
        with open(entry["file"], errors="replace") as dump:
            host = load_host(iptables=dump.read())
        family = next(iter(host.iptables))
        src, dst = ("2001:db8::7", "2001:db8::1") if family == 6 else ("198.51.100.7", "192.0.2.1")
        for hook in ("INPUT", "FORWARD", "OUTPUT"):
            result = host.explain(Packet(src=src, dst=dst, proto="tcp", sport=40000, dport=22),
                                  hook)
            assert result.verdict in ("ACCEPT", "DROP", "REJECT", "UNKNOWN"), entry["file"]
