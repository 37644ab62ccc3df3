"""`segscope whatif` and `segscope fix` on the demo bundle and on hand-built bundles: changes
applied to copies of the dumps, the fleet evaluated again, candidates checked by evaluation."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from collectors.bundle import SnapshotFiles, inventory_yaml, write_bundle
from collectors.intent import Intent
from webapp.cli import main
from webapp.engine.analysis.changes import ChangeError, parse_changes
from webapp.engine.analysis.fix import propose_fix
from webapp.engine.analysis.fleet import Workload
from webapp.engine.analysis.offline import BundleAnalysis
from webapp.engine.analysis.rewrite import apply_changes
from webapp.engine.analysis.whatif import what_if
from webapp.engine.host import load_host
from webapp.engine.packet import Packet

from .fleets import T0, add_rule, intent, rendered, workload

DEMO = Path(__file__).resolve().parents[3] / "fixtures" / "demo"
STRAGGLER_FIX = ("iptables -I seg-in-califc1d8994 1 -s 10.1.0.3/32 -d 10.3.0.2/32 "
                 "-p tcp -m tcp --dport 6379 -j ACCEPT")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def change_file(tmp_path: Path, text: str, **files: str) -> Path:
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    path = tmp_path / "change.txt"
    path.write_text(text)
    return path


def bundle(root: Path, policy: Intent, policy_text: str, workloads: Sequence[Workload],
           edit: Callable[[str, dict[str, str]], dict[str, str]] | None = None) -> Path:
    """A bundle of one snapshot per host, rules as the control plane renders them."""
    hosts = sorted({w.host for w in workloads})
    inventory = {"hosts": [{"name": h, "addresses": []} for h in hosts],
                 "workloads": [{"name": w.name, "host": w.host, "addresses": list(w.addresses),
                                "attachment": w.attachment, "interface": w.interface,
                                "labels": dict(w.labels)} for w in workloads]}
    snapshots = []
    for host in hosts:
        dumps = rendered(host, policy, workloads)
        snapshots.append(SnapshotFiles(host, T0, edit(host, dumps) if edit else dumps))
    write_bundle(root, inventory_text=inventory_yaml(inventory), intents={"v1": policy_text},
                 snapshots=snapshots)
    return root


# -- whatif ----------------------------------------------------------------------------------

def test_it_opens_the_straggler_pair_and_fixes_its_missing_drift(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    change = change_file(tmp_path, f"# the rule v2 never brought to node-03\n"
                                   f"node-03: {STRAGGLER_FIX}\n")
    result = run(capsys, "whatif", str(DEMO), "--change", str(change))
    assert set(result) == {"opened", "closed", "drift_fixed", "drift_created", "flows_allowed"}
    assert [(e["src"], e["dst"], e["allowed"]) for e in result["opened"]] == [
        ("web-889a", "cache-db77", ["tcp/6379"])]
    accepting = result["opened"][0]["evidence"][-1]
    assert (accepting["host"], accepting["chain"], accepting["rule_number"]) == (
        "node-03", "seg-in-califc1d8994", 1)
    assert result["closed"] == [] and result["drift_created"] == []
    assert [(f["kind"], f["workloads"]) for f in result["drift_fixed"]] == [
        ("missing", ["web-889a", "cache-db77"])]
    assert result["flows_allowed"]
    assert {(f["src_workload"], f["dst_workload"], f["dport"], f["verdict"])
            for f in result["flows_allowed"]} == {("web-889a", "cache-db77", 6379, "DROP")}


def test_it_closes_what_a_deleted_allow_rule_accepted(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    change = change_file(tmp_path, "node-03: iptables -D seg-in-calie5e91d06 -p tcp -m tcp "
                                   "--dport 8080 -m set --match-set seg-web src -m comment "
                                   "--comment \"allow web -> payments\" -j ACCEPT\n")
    result = run(capsys, "whatif", str(DEMO), "--change", str(change))
    closed = {(e["src"], e["dst"]): e for e in result["closed"]}
    assert set(closed) == {("web-889a", "payments-251d"), ("web-dd88", "payments-251d"),
                           ("web-feae", "payments-251d")}
    assert closed[("web-889a", "payments-251d")]["allowed"] == ["tcp/8080"]
    assert closed[("web-889a", "payments-251d")]["evidence"][-1]["verdict"] == "DROP"
    assert result["opened"] == []
    assert {tuple(f["workloads"]) for f in result["drift_created"]
            if f["kind"] == "missing"} == set(closed)


def test_a_set_member_removed_closes_that_source_only(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    change = change_file(tmp_path, "node-03: ipset del seg-web 10.1.0.3\n")
    result = run(capsys, "whatif", str(DEMO), "--change", str(change))
    assert [(e["src"], e["dst"]) for e in result["closed"]] == [("web-889a", "payments-251d")]


def test_a_new_intent_version_moves_drift_not_pairs(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    v3 = (DEMO / "intent" / "v1.yaml").read_text()
    change = change_file(tmp_path, "intent: v3.yaml\n", **{"v3.yaml": v3})
    result = run(capsys, "whatif", str(DEMO), "--change", str(change))
    assert result["opened"] == [] and result["closed"] == []
    assert ("missing", ["web-889a", "cache-db77"]) in [
        (f["kind"], f["workloads"]) for f in result["drift_fixed"]]
    assert {f["kind"] for f in result["drift_created"]} == {"excess"}


@pytest.mark.parametrize(("line", "reason"), [
    ("node-03 iptables -A FORWARD -j ACCEPT", "expected 'HOST: COMMAND'"),
    ("node-03: iptables -L FORWARD", "expected -I, -A, -D or -R"),
    ("node-03: iptables -I FORWARD 1 -s 10.0.0.1", "no target"),
    ("node-03: iptables -R FORWARD -j ACCEPT", "-R needs a rule number"),
    ("node-03: nft flush ruleset", "expected nft insert|add|delete rule"),
    ("node-03: nft delete rule inet filter forward", "needs exactly 'handle N'"),
    ("node-03: ipset add seg-web", "expected ipset add|del SET MEMBER"),
    ("node-03: route add default", "unknown command 'route'"),
    ("node-03: iptables -I nosuchchain 1 -j ACCEPT", "no chain nosuchchain"),
    ("node-03: iptables -I FORWARD 40 -j ACCEPT", "-I takes 1 to"),
    ("node-03: ipset add seg-nothing 10.1.0.9", "no set seg-nothing"),
    ("node-09: iptables -A FORWARD -j ACCEPT", "unknown host 'node-09'"),
    ("intent: missing.yaml", "cannot read missing.yaml"),
])
def test_a_malformed_line_is_refused_with_file_line_and_reason(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, line: str, reason: str) -> None:
    change = change_file(tmp_path, f"node-03: {STRAGGLER_FIX}\n{line}\n")
    assert main(["whatif", str(DEMO), "--change", str(change), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{change}:2: " in captured.err and reason in captured.err


def test_an_nft_rule_is_inserted_before_the_handle_it_names() -> None:
    ruleset = {"nftables": [
        {"table": {"family": "inet", "name": "fw", "handle": 1}},
        {"chain": {"family": "inet", "table": "fw", "name": "forward", "handle": 1,
                   "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}},
        {"rule": {"family": "inet", "table": "fw", "chain": "forward", "handle": 4,
                  "expr": [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}},
                                      "right": "tcp"}}, {"drop": None}]}}]}
    dumps = {"nft.json": json.dumps(ruleset)}
    packet = Packet("10.1.0.3", "10.3.0.2", "tcp", 40000, 6379, in_iface="eth0",
                    out_iface="cali1")
    changes = parse_changes(
        "h: nft insert rule inet fw forward position 4 oifname \"cali1\" ip saddr 10.1.0.3 "
        "tcp dport 6379 counter accept\n", "c")
    changed = apply_changes(dumps, changes.host_changes, "c")
    explained = load_host(nft_json=changed["nft.json"]).explain(packet, "FORWARD")
    assert explained.verdict == "ACCEPT" and explained.decided_by.handle == 5
    deleted = apply_changes(changed, parse_changes(
        "h: nft delete rule inet fw forward handle 4\n", "c").host_changes, "c")
    assert len(json.loads(deleted["nft.json"])["nftables"]) == 3
    with pytest.raises(ChangeError, match="c:1: no rule with handle 9"):
        apply_changes(dumps, parse_changes(
            "h: nft delete rule inet fw forward handle 9\n", "c").host_changes, "c")


# -- fix -------------------------------------------------------------------------------------

def test_fix_inserts_the_narrowest_allow_right_before_the_straggler_drop(
        capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "fix", str(DEMO), "--src", "web-889a", "--dst", "cache-db77",
                 "--proto", "tcp", "--dport", "6379")
    [blocker] = result["blocked_by"]
    assert (blocker["host"], blocker["table"], blocker["chain"], blocker["rule_number"],
            blocker["line"]) == ("node-03", "filter", "seg-in-califc1d8994", 2, 28)
    assert blocker["text"].endswith("-A seg-in-califc1d8994 -j DROP")
    first = result["candidates"][0]
    assert first["host"] == "node-03" and first["kind"] == "rule"
    # Before the NFLOG rule that logs the drop, so that accepted connections are not logged.
    assert first["commands"] == [STRAGGLER_FIX]
    assert first["opens"] == [] and first["exposure"] == 0


def test_fix_of_an_allowed_flow_has_nothing_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "fix", str(DEMO), "--src", "web-889a", "--dst", "payments-251d",
                 "--dport", "8080")
    assert result == {"blocked_by": [], "candidates": []}


def test_fix_ranks_by_exposure_and_offers_a_set_member_and_an_intent_line(
        tmp_path: Path) -> None:
    fleet = [workload("web-1", "h1", "10.1.0.1", "web"),
             workload("pay-1", "h1", "10.1.0.2", "payments"),
             workload("ledger-1", "h2", "10.2.0.1", "ledger"),
             workload("ledger-2", "h2", "10.2.0.2", "ledger")]
    allows = [("payments", "ledger", ["tcp/5432"])]
    policy = intent(allows, {"web": {"app": "web"}, "payments": {"app": "payments"},
                             "ledger": {"app": "ledger"}})
    text = json.dumps(policy.to_dict())
    result = propose_fix(BundleAnalysis(bundle(tmp_path / "b", policy, text, fleet)),
                         "web-1", "ledger-1", "tcp", 5432)
    kinds = [(c["kind"], c["exposure"]) for c in result["candidates"]]
    assert kinds == [("rule", 0), ("set", 1), ("intent", 1)]
    set_fix = result["candidates"][1]
    assert set_fix["commands"] == ["ipset add seg-payments 10.1.0.1"]
    assert [(o["src"], o["dst"], o["allowed"]) for o in set_fix["opens"]] == [
        ("web-1", "ledger-2", ["tcp/5432"])]
    assert result["candidates"][2]["commands"] == [
        "- {from: web, to: ledger, ports: [tcp/5432]}"]


def test_fix_carries_commands_for_both_hosts_when_both_block(tmp_path: Path) -> None:
    web = workload("web-1", "h1", "10.1.0.1", "web")
    db = workload("db-1", "h2", "10.2.0.1", "db")
    policy = intent([("web", "db", ["tcp/80"])])
    egress_drop = add_rule(f"-A FORWARD -i {web.interface} -p tcp -m tcp --dport 5432 -j DROP",
                           before="-A FORWARD")

    def edit(host: str, dumps: dict[str, str]) -> dict[str, str]:
        if host == "h1":
            return {**dumps, "iptables-save": egress_drop(host, dumps["iptables-save"])}
        return dumps

    root = bundle(tmp_path / "b", policy, json.dumps(policy.to_dict()), [web, db], edit)
    result = propose_fix(BundleAnalysis(root), "web-1", "db-1", "tcp", 5432)
    assert [b["host"] for b in result["blocked_by"]] == ["h1", "h2"]
    first = result["candidates"][0]
    assert first["on"] == ["h1", "h2"] and first["exposure"] == 0
    assert first["commands"][0] == (f"iptables -I FORWARD 1 -i {web.interface} -s 10.1.0.1/32 "
                                    "-d 10.2.0.1/32 -p tcp -m tcp --dport 5432 -j ACCEPT")
    # The candidate, run through whatif, opens exactly the asked flow.
    change = change_file(tmp_path, first["change"] + "\n")
    opened = what_if(BundleAnalysis(root), parse_changes(change.read_text(), str(change)))
    assert [(e["src"], e["dst"], e["allowed"]) for e in opened["opened"]] == [
        ("web-1", "db-1", ["tcp/5432"])]
