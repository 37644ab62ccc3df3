"""The `segscope explain` contract: JSON Lines in, one JSON object per probe out, in order."""

import json
import subprocess
import sys

RULES = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p udp -m recent --rcheck --name dns -j ACCEPT
-A FORWARD -o cali+ -p tcp -m multiport --dports 5432 -j ACCEPT
COMMIT
"""


def segscope(*args, stdin=""):
    return subprocess.run([sys.executable, "-m", "webapp.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=60)


def write_rules(tmp_path, text=RULES):
    path = tmp_path / "iptables-save"
    path.write_text(text)
    return str(path)


def test_it_answers_each_probe_in_input_order(tmp_path):
    probes = [
        {"id": "ssh", "src": "198.51.100.7", "dst": "192.0.2.1", "proto": "tcp",
         "sport": 40000, "dport": 22},
        {"id": "web", "src": "198.51.100.7", "dst": "192.0.2.1", "proto": "tcp",
         "sport": 40000, "dport": 80},
        {"id": "pg", "src": "10.1.0.5", "dst": "10.2.0.9", "proto": "tcp", "sport": 40000,
         "dport": 5432, "in_iface": "eth0", "out_iface": "cali1a2b", "hook": "FORWARD"},
    ]
    result = segscope("explain", "--iptables-save", write_rules(tmp_path), "--probes", "-",
                      stdin="".join(json.dumps(p) + "\n" for p in probes))
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(a["id"], a["verdict"]) for a in answers] == [
        ("ssh", "ACCEPT"), ("web", "DROP"), ("pg", "ACCEPT")]
    assert answers[0]["decided_by"] == {"table": "filter", "chain": "INPUT", "rule_number": 1,
                                        "line": 5}
    assert answers[1]["decided_by"] == {"table": "filter", "chain": "INPUT", "policy": True}
    assert answers[2]["decided_by"]["chain"] == "FORWARD"


def test_it_reports_unknown_with_both_possibilities(tmp_path):
    probe = {"id": 1, "src": "198.51.100.7", "dst": "192.0.2.1", "proto": "udp", "sport": 5,
             "dport": 53}
    result = segscope("explain", "--iptables-save", write_rules(tmp_path), "--probes", "-",
                      stdin=json.dumps(probe) + "\n")
    answer = json.loads(result.stdout)
    assert answer["verdict"] == "UNKNOWN"
    assert sorted(p["verdict"] for p in answer["possible"]) == ["ACCEPT", "DROP"]


def test_a_bad_probe_line_is_answered_with_its_place_and_the_rest_still_runs(tmp_path):
    stdin = '{"id": "a", "src": "198.51.100.7", "dst": "192.0.2.1", "dport": 22, "sport": 1}\n' \
            "not json\n" \
            '{"id": "c", "src": "nope", "dst": "192.0.2.1"}\n'
    result = segscope("explain", "--iptables-save", write_rules(tmp_path), "--probes", "-",
                      stdin=stdin)
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["verdict"] for a in answers] == ["ACCEPT", "ERROR", "ERROR"]
    assert answers[1]["error"].startswith("-:2:1: not JSON")
    assert answers[2]["id"] == "c"
    assert result.returncode == 1


def test_a_malformed_dump_fails_with_file_line_and_column(tmp_path):
    path = write_rules(tmp_path, "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -x\nCOMMIT\n")
    result = segscope("explain", "--iptables-save", path, "--src", "192.0.2.1",
                      "--dst", "192.0.2.2")
    assert result.returncode == 2
    assert f"{path}:3:10: unknown option -x" in result.stderr


def test_one_packet_is_explained_as_text_for_a_person(tmp_path):
    result = segscope("explain", "--iptables-save", write_rules(tmp_path), "--src",
                      "198.51.100.7", "--dst", "192.0.2.1", "--dport", "22", "--sport", "40000")
    assert result.returncode == 0, result.stderr
    assert "verdict: ACCEPT" in result.stdout
    assert "decided by: filter INPUT rule 1 (line 5)" in result.stdout
