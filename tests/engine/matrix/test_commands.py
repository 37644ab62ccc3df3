"""The `segscope service-matrix` command prints the JSON shape the issue asks for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webapp.cli import main

DATA = Path(__file__).parent.parent / "data" / "matrix"


def test_it_prints_classes_and_edges_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["service-matrix", "--iptables-save", str(DATA / "synology_2015.iptables-save"),
                 "--chain", "INPUT", "--proto", "tcp", "--dport", "80", "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out) == {
        "classes": {"0.0.0.0": ["0.0.0.0-126.255.255.255", "128.0.0.0-255.255.255.255"],
                    "127.0.0.0": ["127.0.0.0-127.255.255.255"]},
        "edges": [["127.0.0.0", "0.0.0.0"], ["127.0.0.0", "127.0.0.0"]]}


def test_it_reads_an_ipassmt_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules"
    rules.write_text("*filter\n:INPUT DROP [0:0]\n-A INPUT -i eth0 -j ACCEPT\nCOMMIT\n")
    ipassmt = tmp_path / "ipassmt"
    ipassmt.write_text("eth0 = [10.0.0.0/8]\nlo = [127.0.0.0/8]\n")
    main(["service-matrix", "--iptables-save", str(rules), "--chain", "INPUT", "--proto", "tcp",
          "--dport", "22", "--ipassmt", str(ipassmt)])
    out = capsys.readouterr().out
    assert "10.0.0.0 -> 0.0.0.0" in out
    assert "-i read exactly" in out


def test_it_refuses_a_bad_ipassmt_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.write_text("*filter\n:INPUT DROP [0:0]\nCOMMIT\n")
    ipassmt = tmp_path / "ipassmt"
    ipassmt.write_text("eth0 10.0.0.0/8\n")
    assert main(["service-matrix", "--iptables-save", str(rules), "--chain", "INPUT",
                 "--proto", "tcp", "--dport", "22", "--ipassmt", str(ipassmt)]) == 2


def test_it_takes_a_prerouting_chain_of_another_table(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["service-matrix", "--iptables-save", str(DATA / "sqrl_2015_aug.iptables-save"),
                 "--table", "raw", "--chain", "prerouting", "--proto", "tcp", "--dport", "22",
                 "--ipassmt", str(DATA / "sqrl_2015_aug.ipassmt"), "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["edges"] == [["0.0.0.0", "0.0.0.0"]]
