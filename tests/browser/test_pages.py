"""In a real browser on the analysed demo fleet: the detail pages (segment, workload, host
extras, cost), the three clicks from the overview's recent drops to the deciding rule on the
host page, and the offline badge while the live socket is down."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.servers import LiveServer
from tests.browser.test_dashboard import (  # noqa: F401 (fixtures)
    WAIT_MS,
    analysed_demo,
    node_03_with_the_web_to_cache_rule,
    olivia,
    page,
    post_snapshot,
    readme_image,
    screenshots,
)
from webapp.inventory.models import Host

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_three_clicks_lead_from_the_overviews_drops_to_the_deciding_rule(
        page: Any, asgi_server: LiveServer, analysed_demo: None,  # noqa: F811
        screenshots: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page.goto(f"{asgi_server.url}/overview/")

    page.locator("a.stat", has=page.locator("[data-value=drops]")).click()  # 1
    expect(page.locator("main h1")).to_have_text("Flows")
    page.locator("table a:text-is('explain')").first.click()  # 2
    expect(page.locator("h2.verdict")).to_have_text("DROP")
    decided = page.locator("section.result strong").first.inner_text()
    page.locator("#deciding-rule").click()  # 3

    expect(page.locator("main h1")).to_have_text(re.compile(r"^node-\d+$"))
    row = page.locator("tr:target")
    expect(row).to_be_visible()
    table, chain, number = re.match(r"(\S+) (\S+) rule (\d+)", decided).groups()  # type: ignore[union-attr]
    assert row.get_attribute("id") == f"rule-ipv4-{table}-{chain}-{number}"
    assert row.locator("td").first.inner_text() == number
    expect(row).to_contain_text("DROP")
    assert page.evaluate("getComputedStyle(document.querySelector('tr:target td'))"
                         ".backgroundColor") != "rgba(0, 0, 0, 0)"
    # The window as the person sees it on arrival: scrolled to the highlighted rule.
    page.screenshot(path=screenshots / "deciding-rule.png")
    assert page.errors == []
    readme_image(screenshots / "deciding-rule.png")


def test_the_page_says_when_it_is_offline_and_comes_back_live(
        page: Any, asgi_server: LiveServer) -> None:  # noqa: F811
    from playwright.sync_api import expect

    # The live socket passes through this route, so that the test can close it as a server
    # going away would, and refuse new ones until it is back.
    routes: list[Any] = []
    up = {"accepting": True}

    def handle(route: Any) -> None:
        if not up["accepting"]:
            route.close(code=1013, reason="try again later")
            return
        route.connect_to_server()
        routes.append(route)

    page.route_web_socket(re.compile(r".*/ws/live/.*"), handle)
    page.goto(f"{asgi_server.url}/overview/")
    badge = page.locator("#live-status")
    expect(badge).to_have_text("live", timeout=WAIT_MS)

    up["accepting"] = False
    for route in routes:
        route.close(code=1012, reason="service restart")

    expect(badge).to_have_text("offline")
    expect(badge).to_have_class(re.compile(r"\boffline\b"))
    assert page.evaluate("document.body.dataset.live") == "offline"

    # Back up: the next attempt connects, and the page fetches what it may have missed.
    with page.expect_response(re.compile(r".*/data/overview/$"), timeout=WAIT_MS) as refetch:
        up["accepting"] = True
        expect(badge).to_have_text("live", timeout=WAIT_MS)
    assert refetch.value.status == 200
    assert page.errors == []


def test_a_posted_snapshot_reaches_the_open_host_pages_lists_without_a_reload(
        page: Any, asgi_server: LiveServer, analysed_demo: None) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page.goto(f"{asgi_server.url}/hosts/node-03/")
    expect(page.locator("#live-status")).to_have_text("live", timeout=WAIT_MS)
    expect(page.locator("#history tbody tr")).to_have_count(2)
    page.evaluate("window.segscopeTestMarker = 'not reloaded'")

    post_snapshot(asgi_server, Host.objects.get(name="node-03"),
                  node_03_with_the_web_to_cache_rule())

    expect(page.locator("#history tbody tr")).to_have_count(3, timeout=WAIT_MS)
    expect(page.locator("#history tbody tr").first).to_contain_text("allow web -> cache")
    expect(page.locator("#rule-ipv4-filter-seg-in-califc1d8994-1")).to_contain_text(
        "match-set seg-web src", timeout=WAIT_MS)
    expect(page.locator("#convergence tbody tr").first).to_contain_text("2026-11-26T04:59:45Z",
                                                                        timeout=WAIT_MS)
    assert page.evaluate("window.segscopeTestMarker") == "not reloaded"
    assert page.errors == []


PAGES = {"segment": "/segments/cache/", "workload": "/workloads/cache-92cc/",
         "cost": "/cost/", "host-rules": "/hosts/node-02/"}


def test_the_detail_pages_render_in_the_browser(
        page: Any, asgi_server: LiveServer, analysed_demo: None,  # noqa: F811
        screenshots: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    for name, path in PAGES.items():
        page.goto(asgi_server.url + path)
        expect(page.locator("main h1").first).to_be_visible()
        if name == "cost":
            expect(page.locator("#cost")).to_have_attribute("data-drawn", "1", timeout=WAIT_MS)
            expect(page.locator("#history-plot .scatterlayer .trace").first).to_be_attached()
        page.screenshot(path=screenshots / f"{name}.png", full_page=True)
        assert page.errors == [], f"{name}: {page.errors}"

    page.goto(f"{asgi_server.url}/segments/cache/")
    expect(page.locator("#members tbody tr")).to_have_count(3)
    page.fill("input[name=inbound_q]", "payments node-02")
    page.locator("#inbound button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"inbound_q=payments\+node-02"))
    expect(page.locator("#inbound tbody tr")).to_have_count(3)

    page.goto(f"{asgi_server.url}/segment-graph/")
    page.get_by_role("button", name="workload pairs of payments to ledger").click()
    detail = page.locator("#edge-detail")
    expect(detail.locator("h2 a[href='/segments/ledger/']")).to_be_visible()
    expect(detail.locator("table.pairs a[href='/workloads/payments-549f/']").first).to_be_visible()
    expect(detail.locator(".host-rules a[href^='/hosts/node-02/#rule-ipv4-filter-']").first
           ).to_be_visible()

    page.goto(f"{asgi_server.url}/segment-graph/?focus=cache")
    link = page.locator("#segment-page a")
    expect(link).to_have_attribute("href", "/segments/cache/", timeout=WAIT_MS)
    link.click()
    expect(page.locator("main h1")).to_have_text("Segment cache")
    assert sorted(p.stem for p in screenshots.iterdir()) == sorted(PAGES)
