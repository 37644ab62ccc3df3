"""An on-call engineer, in a real browser, finds a dropped flow and the rule that dropped it."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def fleet(django_user_model, node_02_with_a_drop):
    django_user_model.objects.create_user(username="olivia", password="olivia-password")
    return node_02_with_a_drop


def test_a_dropped_flow_leads_to_the_rule_that_dropped_it(browser, asgi_server, fleet):
    page = browser.new_page()
    page.goto(f"{asgi_server.url}/")
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


def test_the_host_page_shows_rule_counters_in_the_browser(browser, asgi_server, fleet):
    page = browser.new_page()
    page.goto(f"{asgi_server.url}/hosts/node-02/")
    page.fill("input[name=username]", "olivia")
    page.fill("input[name=password]", "olivia-password")
    page.click("button[type=submit]")

    page.wait_for_selector("text=Rule tables")
    row = page.locator("#rule-ipv4-filter-seg-in-cali0003-2")
    assert row.get_attribute("title").startswith("-A seg-in-cali0003 -j DROP")
    assert row.locator("td").nth(1).inner_text() == "9"
    page.close()
