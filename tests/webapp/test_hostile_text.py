"""An attacker's texts (tests/hostile) on their way out: the API returns them JSON-encoded and
unchanged, every page shows them escaped, and every CSV export quotes the cells a spreadsheet
would run as formulas."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from celery import current_app
from django.contrib.auth.models import AbstractBaseUser, Group
from django.test import Client

from tests.hostile import (
    COMMENT,
    HOST,
    INTERFACE,
    LABELS,
    NFT_CHAIN,
    NFT_COMMENT,
    NFT_TABLE,
    SEGMENTS,
    SET,
    quoted,
    workload,
    write_hostile_bundle,
)
from webapp.analysis.convergence import compute_convergence
from webapp.analysis.partitions import analyse_host, due_host_ids
from webapp.rules.bundle import ingest_bundle

pytestmark = pytest.mark.django_db

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture
def hostile_fleet(tmp_path: Path) -> None:
    """The attacker's bundle ingested and analysed, as the workers would."""
    ingest_bundle(write_hostile_bundle(tmp_path / "bundle"))
    if not current_app.conf.task_always_eager:
        current_app.control.purge()  # the analyses it asked for run here, not in a worker
    for host_id in due_host_ids():
        analyse_host(host_id)
    compute_convergence()


@pytest.fixture
def audrey_client(django_user_model: type[AbstractBaseUser]) -> Client:
    """Audrey, an auditor (exports and the audit log)."""
    user = django_user_model.objects.create_user(  # type: ignore[attr-defined]
        username="audrey", password="audrey-password")
    user.groups.add(Group.objects.get_or_create(name="auditor")[0])
    client = Client()
    client.force_login(user)
    return client


def _json(client: Client, url: str) -> Any:
    response = client.get(url, HTTP_ACCEPT="application/json")
    assert response.status_code == 200, (url, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _all(client: Client, url: str) -> list[Any]:
    return list(_json(client, f"{url}{'&' if '?' in url else '?'}page_size=1000")["results"])


def test_the_api_returns_every_hostile_text_verbatim(client_logged_in: Client,
                                                      hostile_fleet: None) -> None:
    hosts = {h["name"] for h in _all(client_logged_in, "/api/hosts/")}
    workloads = {w["name"]: w for w in _all(client_logged_in, "/api/workloads/")}
    rules = _all(client_logged_in, "/api/rules/")
    sets = {s["name"] for s in _all(client_logged_in, "/api/sets/")}
    flows = _all(client_logged_in, "/api/flows/")
    graph = _json(client_logged_in, "/api/graph/?level=segment")
    drift = list(_strings(_json(client_logged_in, "/api/drift/")))

    assert HOST in hosts
    assert workloads[workload("web-889a")]["labels"]["app"] == LABELS["web"]
    assert any(quoted(COMMENT) in r["text"] for r in rules)  # the line as iptables-save wrote it
    assert any(r["table"] == NFT_TABLE and r["chain"] == NFT_CHAIN and NFT_COMMENT in r["text"]
               for r in rules)
    assert SET in sets
    assert {f["rule_ref"] for f in flows} >= {f"segscope-drop {workload('ledger-5049')}"}
    assert set(SEGMENTS.values()) <= set(_strings(graph))
    assert any(SET in text or SEGMENTS["web"] in text for text in drift)
    assert INTERFACE  # interface names are kept for evaluation only, never served


def _pages(hostile_fleet: None) -> dict[str, str]:
    node_03 = quote(HOST, safe="")
    return {
        "overview": "/overview/", "segment graph": "/segment-graph/",
        "drift": "/drift/", "convergence": "/convergence/?generation=2",
        "host": f"/hosts/{node_03}/", "flows": "/flows/",
        "segment": f"/segments/{quote(SEGMENTS['web'], safe='')}/",
        "workload": f"/workloads/{quote(workload('web-feae'), safe='')}/",
        "cost": "/cost/",
    }


def test_every_page_shows_the_hostile_texts_escaped(client_logged_in: Client,
                                                    hostile_fleet: None) -> None:
    for name, url in _pages(hostile_fleet).items():
        response = client_logged_in.get(url)
        assert response.status_code == 200, (name, response.content[:300])
        page = response.content.decode()
        for tag in ("<script>window.__pwned", "<img src=x", "<svg onload", "<iframe",
                    "</textarea><", "<a href=\"javascript:"):
            assert tag not in page, (name, tag)
    host_page = client_logged_in.get(_pages(hostile_fleet)["host"]).content.decode()
    assert html.escape(COMMENT.split(" javascript")[0]) in host_page


def _csv_cells(body: bytes) -> list[str]:
    return [c for row in csv.reader(io.StringIO(body.decode("utf-8"), newline=""))
            for c in row]


def _csv_links(page: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'href="([^"]*format=csv[^"]*)"', page)]


def test_every_csv_export_quotes_formula_starters(client_logged_in: Client,
                                                   audrey_client: Client,
                                                   hostile_fleet: None) -> None:
    exports: dict[str, bytes] = {}
    for name, url in _pages(hostile_fleet).items():
        page = client_logged_in.get(url).content.decode()
        base = url.split("?")[0]
        for link in _csv_links(page):
            response = client_logged_in.get(base + link if link.startswith("?") else link)
            assert response.status_code == 200, (name, link)
            exports[f"{name} {link}"] = response.content
    exports["audit log"] = audrey_client.get("/api/audit-log/?format=csv").content
    archive = audrey_client.get("/api/audit-export/")
    assert archive.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(b"".join(archive.streaming_content)
                                         if archive.streaming else archive.content)) as tar:
        for member in tar.getmembers():
            if member.name.endswith(".csv"):
                extracted = tar.extractfile(member)
                assert extracted is not None
                exports[member.name] = extracted.read()

    assert {"drift", "flows", "host", "segment", "workload", "cost", "audit"} <= {
        k.split(" ")[0] for k in exports}
    assert {"edges.csv", "findings.csv", "convergence.csv"} <= {
        k.rsplit("/", 1)[-1] for k in exports}
    cells = {name: _csv_cells(body) for name, body in exports.items()}
    formulas = {name: [c for c in found if c.startswith(FORMULA_STARTS)]
                for name, found in cells.items()}
    assert {name: found for name, found in formulas.items() if found} == {}
    every = [c for found in cells.values() for c in found]
    assert "'" + SEGMENTS["web"] in every or any(
        c.startswith("'" + SEGMENTS["web"][:1]) for c in every)
    assert any(c.startswith("'" + HOST) for c in every)


def test_the_audit_log_keeps_a_hostile_login_name_as_data(client: Client,
                                                          audrey_client: Client) -> None:
    client.post("/login/", {"username": SEGMENTS["payments"], "password": "guess"},
                REMOTE_ADDR="192.0.2.201")

    events = _json(audrey_client, "/api/audit-log/?action=login-failed")["results"]
    listed = audrey_client.get("/api/audit-log/?format=csv&action=login-failed").content

    assert events[0]["details"]["username"] == SEGMENTS["payments"]
    assert all(not c.startswith(FORMULA_STARTS) for c in _csv_cells(listed))
    assert json.dumps(SEGMENTS["payments"])[1:-1] in listed.decode().replace('""', '"')
