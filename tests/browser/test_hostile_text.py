"""An attacker's texts (tests/hostile) in a real browser: every page, the segment graph's
plotly labels and hover text included, shows them as text and runs none of them: no
`window.__pwned`, no dialog, no request for an injected image, no console error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from celery import current_app
from django.contrib.auth.models import Group

from tests.browser.servers import LiveServer, logged_in_page
from tests.hostile import (
    COMMENT,
    HOST,
    NFT_COMMENT,
    SEGMENTS,
    SET,
    quoted,
    workload,
    write_hostile_bundle,
)
from webapp.analysis.convergence import compute_convergence
from webapp.analysis.partitions import analyse_host, due_host_ids
from webapp.rules.bundle import ingest_bundle

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WAIT_MS = 60_000
WHATIF = ("node-02: iptables -I FORWARD 1 -m comment --comment "
          "\"</textarea><script>window.__pwned='whatif'</script>\" -j ACCEPT")


@pytest.fixture
def hostile_fleet(tmp_path: Path) -> None:
    """The attacker's bundle, ingested and analysed here as the workers would."""
    ingest_bundle(write_hostile_bundle(tmp_path / "bundle"))
    current_app.control.purge()  # the analyses it asked for run here, not in a worker
    for host_id in due_host_ids():
        analyse_host(host_id)
    compute_convergence()


@pytest.fixture
def page(browser: Any, asgi_server: LiveServer, django_user_model: Any,
         hostile_fleet: None) -> Iterator[Any]:
    """Oscar the operator, logged in; the page records console errors, dialogs and requests."""
    oscar = django_user_model.objects.create_user(username="oscar", password="oscar-password")
    oscar.groups.add(Group.objects.get_or_create(name="operator")[0])
    page = logged_in_page(browser, asgi_server, "oscar")
    page.dialogs, page.requests = [], []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.on("request", lambda r: page.requests.append(r.url))
    yield page
    page.close()


def _assert_nothing_ran(page: Any, name: str) -> None:
    assert page.evaluate("window.__pwned") is None, name
    assert page.dialogs == [], (name, page.dialogs)
    assert page.errors == [], (name, page.errors)
    injected = [u for u in page.requests if u.rstrip("/").endswith("/x") or "javascript:" in u]
    assert injected == [], (name, injected)


def _explain() -> str:
    return "/explain/?" + urlencode({
        "host": "node-02", "hook": "FORWARD", "src": "10.2.0.2", "dst": "10.2.0.4",
        "proto": "tcp", "dport": "8080", "sport": "40000", "in_iface": "eth0",
        "out_iface": "cali0ad3dbf3", "ct_state": "NEW"})


PAGES = {
    # page: (path, a text it must show as written)
    "overview": ("/overview/", None),
    "drift": ("/drift/", SET),
    "convergence": ("/convergence/?generation=2", HOST),
    "host": (f"/hosts/{quote(HOST, safe='')}/", NFT_COMMENT.rstrip("\x07")),
    "flows": ("/flows/", workload("ledger-5049")),
    "explain": (_explain(), quoted(COMMENT).split(" \x1b")[0]),  # the rule's line
    "fix": ("/fix/?" + urlencode({"src": workload("web-dd88"), "dst": workload("payments-4de5"),
                                  "proto": "tcp", "dport": "9999"}), workload("web-dd88")),
    "service matrix": ("/service-matrix/?" + urlencode({
        "host": "node-02", "table": "filter", "chain": "FORWARD", "proto": "tcp",
        "dport": "8080"}), None),
    "segment": (f"/segments/{quote(SEGMENTS['web'], safe='')}/", SEGMENTS["web"][:-1]),
    "workload": (f"/workloads/{quote(workload('web-feae'), safe='')}/", workload("web-feae")),
    "cost": ("/cost/", None),
}


def test_every_page_shows_the_attackers_texts_and_runs_none(page: Any,
                                                            asgi_server: LiveServer) -> None:
    from playwright.sync_api import expect

    for name, (path, shown) in PAGES.items():
        page.goto(asgi_server.url + path)
        expect(page.locator("main h1").first).to_be_visible()
        if name in ("overview", "drift", "host"):
            expect(page.locator("#live-status")).to_have_text("live", timeout=WAIT_MS)
        if name == "convergence":  # drawn by the page's script
            expect(page.locator("#stragglers li")).to_have_text(HOST, timeout=WAIT_MS)
        if shown is not None:
            assert shown in page.inner_text("main"), name
        _assert_nothing_ran(page, name)


def test_the_segment_graph_draws_and_hovers_the_names_as_text(page: Any,
                                                             asgi_server: LiveServer) -> None:
    from playwright.sync_api import expect

    page.goto(f"{asgi_server.url}/segment-graph/")
    expect(page.locator("#segment-graph")).to_have_attribute("data-drawn", "1", timeout=WAIT_MS)

    labels = page.locator("#graph-plot .textpoint text").all_text_contents()
    assert set(labels) >= {SEGMENTS["payments"], SEGMENTS["ledger"], SEGMENTS["cache"]}
    node = page.locator("#graph-plot .scatterlayer .trace").last.locator(".point").first
    box = node.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    hover = page.locator("#graph-plot .hoverlayer .hovertext")
    expect(hover).to_have_count(1)
    # The first node in name order; plotly would have read its <img> as markup.
    assert hover.text_content().startswith(f"{SEGMENTS['payments']}: ")
    page.get_by_role("button", name=f"workload pairs of {SEGMENTS['web']} to "
                                    f"{SEGMENTS['payments']}").click()
    expect(page.locator("#edge-detail h2")).to_contain_text(SEGMENTS["payments"])
    _assert_nothing_ran(page, "segment graph")


def test_a_what_if_with_a_hostile_change_file_runs_nothing(page: Any,
                                                           asgi_server: LiveServer) -> None:
    from playwright.sync_api import expect

    page.goto(f"{asgi_server.url}/whatif/")
    page.fill("textarea[name=change]", WHATIF)
    page.click("main form button[type=submit]")

    expect(page.locator("section.result h2").first).to_be_visible(timeout=WAIT_MS)
    assert page.input_value("textarea[name=change]") == WHATIF
    assert workload("payments-4de5") in page.inner_text("section.result >> nth=0")
    _assert_nothing_ran(page, "what-if")
