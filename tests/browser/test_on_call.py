"""An on-call engineer, in a real browser, finds a dropped flow and the rule that dropped it."""

from datetime import UTC, datetime

import pytest

from webapp.flows.models import FlowRecord
from webapp.inventory.models import Host, Workload
from webapp.rules.services import ingest_snapshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RULES = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:seg-in-cali0003 - [0:0]
[40:2400] -A FORWARD -o cali0003 -j seg-in-cali0003
[3:180] -A seg-in-cali0003 -s 10.1.0.5/32 -p tcp -m tcp --dport 5432 -j ACCEPT
[9:540] -A seg-in-cali0003 -j DROP
COMMIT
"""
NOW = datetime(2026, 11, 26, 3, 0, 5, tzinfo=UTC)


@pytest.fixture
def fleet(django_user_model):
    django_user_model.objects.create_user(username="olivia", password="olivia-password")
    host = Host.objects.create(name="node-02", addresses=["192.0.2.12"])
    Workload.objects.create(name="ledger-1", host=host, addresses=["10.2.0.9"],
                            interface="cali0003", labels={"app": "ledger"}, started_at=NOW)
    ingest_snapshot(host, NOW, {"iptables-save": RULES}, raw={})
    FlowRecord.objects.create(host=host, bucket_start=NOW, bucket_end=NOW, src="10.1.0.6",
                              dst="10.2.0.9", proto=6, dport=5432, packets=3, bytes=180,
                              records=3, verdict="DROP", rule_ref="segscope-drop ledger-1",
                              source_format="ulogd2")
    return host


def test_a_dropped_flow_leads_to_the_rule_that_dropped_it(browser, live_server, fleet):
    page = browser.new_page()
    page.goto(f"{live_server.url}/")
    page.fill("input[name=username]", "olivia")
    page.fill("input[name=password]", "olivia-password")
    page.click("button[type=submit]")

    page.wait_for_selector("text=Recent drops")
    page.click("table a:text-is('explain')")

    page.wait_for_selector("h2.verdict")
    assert page.inner_text("h2.verdict") == "DROP"
    assert "filter seg-in-cali0003 rule 2 (line 8)" in page.inner_text("section.result")
    assert "9 pkts / 540 B" in page.inner_text("section.result")
    page.close()


def test_the_host_page_shows_rule_counters_in_the_browser(browser, live_server, fleet):
    page = browser.new_page()
    page.goto(f"{live_server.url}/hosts/node-02/")
    page.fill("input[name=username]", "olivia")
    page.fill("input[name=password]", "olivia-password")
    page.click("button[type=submit]")

    page.wait_for_selector("text=Rule tables")
    row = page.locator("tr", has_text="-A seg-in-cali0003 -j DROP")
    assert row.locator("td").nth(1).inner_text() == "9"
    page.close()
