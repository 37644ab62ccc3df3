"""POST /api/whatif/ and /api/fix/ on the ingested demo: the CLI's answers, roles, refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.test import Client

from webapp.audit.models import AuditEvent
from webapp.cli import main

STRAGGLER_FIX = ("iptables -I seg-in-califc1d8994 1 -s 10.1.0.3/32 -d 10.3.0.2/32 "
                 "-p tcp -m tcp --dport 6379 -j ACCEPT")


def _post(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, json.dumps(body), content_type="application/json")


def test_whatif_answers_as_the_command_does(demo: Path, oscar_client: Client, tmp_path: Path,
                                            capsys: Any) -> None:
    change = f"node-03: {STRAGGLER_FIX}\n"
    response = _post(oscar_client, "/api/whatif/", {"change": change})

    assert response.status_code == 200, response.content
    body = response.json()
    (tmp_path / "change.txt").write_text(change)
    assert main(["whatif", str(demo), "--change", str(tmp_path / "change.txt"), "--json"]) == 0
    offline = json.loads(capsys.readouterr().out)
    assert body["opened"] == offline["opened"]
    assert body["drift_fixed"] == offline["drift_fixed"]
    assert {(f["src_workload"], f["dst_workload"]) for f in body["flows_allowed"]} == {
        ("web-889a", "cache-db77")}
    assert AuditEvent.objects.filter(action="what-if", username="oscar").count() == 1


def test_whatif_refuses_a_malformed_line_with_its_number(demo: Path,
                                                         oscar_client: Client) -> None:
    response = _post(oscar_client, "/api/whatif/",
                     {"change": f"node-03: {STRAGGLER_FIX}\nnode-03: iptables -L\n"})

    assert response.status_code == 400
    assert response.json()["line"] == 2
    assert response.json()["detail"].startswith("change:2: ")


def test_whatif_reads_an_intent_file_given_beside_the_change(demo: Path,
                                                             oscar_client: Client) -> None:
    v1 = (demo / "intent" / "v1.yaml").read_text()
    response = _post(oscar_client, "/api/whatif/",
                     {"change": "intent: v3.yaml\n", "files": {"v3.yaml": v1}})

    assert response.status_code == 200, response.content
    assert {f["kind"] for f in response.json()["drift_created"]} == {"excess"}


def test_a_viewer_may_not_run_a_whatif(demo: Path, client_logged_in: Client) -> None:
    response = _post(client_logged_in, "/api/whatif/", {"change": f"node-03: {STRAGGLER_FIX}"})
    assert response.status_code == 403


def test_anonymous_may_run_neither(client: Client) -> None:
    assert _post(client, "/api/whatif/", {"change": "x"}).status_code in (401, 403)
    assert _post(client, "/api/fix/", {"src": "a", "dst": "b"}).status_code in (401, 403)


def test_fix_proposes_the_rule_before_the_straggler_drop(demo: Path,
                                                         client_logged_in: Client) -> None:
    response = _post(client_logged_in, "/api/fix/", {"src": "web-889a", "dst": "cache-db77",
                                                      "proto": "tcp", "dport": 6379})

    assert response.status_code == 200, response.content
    body = response.json()
    assert [b["rule_number"] for b in body["blocked_by"]] == [2]
    assert body["candidates"][0]["commands"] == [STRAGGLER_FIX]
    assert body["candidates"][0]["exposure"] == 0


def test_fix_refuses_an_unknown_workload(demo: Path, client_logged_in: Client) -> None:
    response = _post(client_logged_in, "/api/fix/", {"src": "nobody", "dst": "cache-db77",
                                                      "dport": 6379})
    assert response.status_code == 400
    assert "nobody" in response.json()["detail"]
