"""A security engineer, in a real browser, on the segment graph of a fleet with more segments
than a page draws: groups drawn, and one opened from the edge table."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bench.graph_rows import store
from bench.seed import SeedScale, seed_fleet
from tests.browser.servers import LiveServer
from tests.browser.test_dashboard import WAIT_MS, olivia, page  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# 1,200 segments of one workload, each reaching two others: 120 groups by name prefix.
SCALE = SeedScale(hosts=40, segments=1200, members=1, peers=2)


@pytest.fixture
def big_fleet(asgi_server: LiveServer) -> None:
    store(seed_fleet(SCALE))


def test_a_large_fleet_is_drawn_as_groups_and_a_group_opens_on_the_page(
        page: Any, asgi_server: LiveServer, big_fleet: None) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page.goto(f"{asgi_server.url}/segment-graph/")

    graph = page.locator("#segment-graph")
    expect(graph).to_have_attribute("data-drawn", re.compile(r"^[1-9]"), timeout=WAIT_MS)
    groups = graph.get_attribute("data-groups").split(",")
    assert len(groups) == 120 and "seg000*" in groups
    expect(page.locator("#graph-count")).to_contain_text("1200 segments drawn as 120 nodes")
    opener = page.get_by_role("button", name="open the group seg000* of the edge to",
                              exact=False).first

    opener.click()

    expect(graph).to_have_attribute("data-groups", "", timeout=WAIT_MS)
    nodes = graph.get_attribute("data-nodes").split(",")
    assert {f"seg{i:04d}" for i in range(10)} <= set(nodes)
    assert page.locator("#graph-filters input[name=focus]").input_value() == "seg000*"
    assert page.errors == []
