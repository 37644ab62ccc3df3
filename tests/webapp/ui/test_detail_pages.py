"""The segment, workload, host and cost pages on the analysed demo bundle: what they list,
their filters and pages in the URL, their CSV and JSON exports, and where they link."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return response.content.decode()


def exported(client: Client, url: str) -> list[dict[str, str]]:
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def exported_json(client: Client, url: str) -> Any:
    response = client.get(url)
    assert response.status_code == 200
    return response.json()


def test_a_segment_lists_its_members_and_their_hosts(client_logged_in: Client,
                                                       demo: None) -> None:
    members = exported(client_logged_in, "/segments/cache/?export=members&format=csv")
    hosts = exported(client_logged_in, "/segments/cache/?export=hosts&format=csv")

    assert [(m["name"], m["host"]) for m in members] == [
        ("cache-6467", "node-01"), ("cache-92cc", "node-02"), ("cache-db77", "node-03")]
    assert [h["host"] for h in hosts] == ["node-01", "node-02", "node-03"]


def test_a_segment_lists_its_edges_in_and_out_with_the_deciding_rules(
        client_logged_in: Client, demo: None) -> None:
    inbound = exported(client_logged_in, "/segments/cache/?export=inbound&format=csv")
    outbound = exported(client_logged_in, "/segments/ledger/?export=outbound&format=csv")

    pairs = {(e["src"], e["dst"]): e for e in inbound}
    assert ("web-889a", "cache-db77") not in pairs  # node-03 never got v2
    assert pairs[("web-889a", "cache-6467")]["allowed"] == "tcp/6379"
    assert "node-01 FORWARD filter seg-in-cali0fa8a58a #1 ACCEPT" in pairs[
        ("web-889a", "cache-6467")]["rules"]
    assert pairs[("web-889a", "cache-6467")]["not_intended"] == ""
    # node-02's planted excess: payments reach its cache.
    assert pairs[("payments-549f", "cache-92cc")]["src_segments"] == "payments"
    assert pairs[("payments-549f", "cache-92cc")]["not_intended"] == "tcp/6379"
    assert {(e["src"], e["dst"], e["not_intended"]) for e in outbound} == {
        ("ledger-b0a2", "web-dd88", "tcp/9100")}


def test_the_filter_and_page_of_a_list_are_in_the_url(client_logged_in: Client,
                                                        demo: None) -> None:
    filtered = exported_json(client_logged_in,
                             "/segments/cache/?inbound_q=payments+node-02&export=inbound&format=json")
    html = page(client_logged_in, "/segments/cache/?inbound_q=payments+node-02")

    assert filtered["count"] == 3
    assert {r["src"] for r in filtered["results"]} == {"payments-549f", "payments-4de5",
                                                       "payments-251d"}
    assert 'name="inbound_q" value="payments node-02"' in html
    assert "?inbound_q=payments+node-02&amp;export=inbound&amp;format=csv" in html


def test_a_segments_drift_names_its_members_and_links_the_rule(
        client_logged_in: Client, demo: None) -> None:
    drift = exported_json(client_logged_in, "/segments/cache/?export=drift&format=json")
    html = page(client_logged_in, "/segments/cache/?drift_q=reused")

    assert sorted({f["kind"] for f in drift["results"]}) == ["excess", "missing", "stale"]
    assert any("now owned by cache-92cc" in f["note"] for f in drift["results"])
    assert 'href="/hosts/node-02/"' in html


def test_a_workload_page_shows_where_it_runs_its_segments_and_edges(
        client_logged_in: Client, demo: None) -> None:
    html = page(client_logged_in, "/workloads/cache-92cc/")
    inbound = exported(client_logged_in, "/workloads/cache-92cc/?export=inbound&format=csv")
    flows = exported(client_logged_in, "/workloads/cache-db77/?export=flows&format=csv")

    assert '<a href="/segments/cache/">cache</a>' in html
    assert '<a href="/hosts/node-02/">node-02</a>' in html
    assert {e["src"] for e in inbound} >= {"web-dd88", "payments-549f"}
    assert any(f["verdict"] == "DROP" and f["dst"].startswith("cache-db77") for f in flows)


def test_a_stopped_workload_has_a_page_without_edges(client_logged_in: Client,
                                                       demo: None) -> None:
    html = page(client_logged_in, "/workloads/web-3c1a/")

    assert "2026-11-26 04:41:12 – 2026-11-26 04:58:50" in html
    assert "No workload is allowed to reach these." in html


def test_unknown_segments_and_workloads_are_not_found(client_logged_in: Client,
                                                        demo: None) -> None:
    assert client_logged_in.get("/segments/nowhere/").status_code == 404
    assert client_logged_in.get("/workloads/nobody/").status_code == 404
    assert client_logged_in.get("/segments/web/?export=nothing").status_code == 404


def test_the_host_page_lists_rules_as_iptables_does_with_the_counters_change(
        client_logged_in: Client, demo: None) -> None:
    html = page(client_logged_in, "/hosts/node-02/")

    assert "Chain FORWARD (policy DROP 0 packets, 0 bytes)" in html
    assert "Chain seg-in-calie1c481b8 (1 references)" in html
    row = html.split('id="rule-ipv4-filter-FORWARD-1"')[1].split("</tr>")[0]
    assert ">28<" in row and ">+7<" in row and "ctstate RELATED,ESTABLISHED" in row
    scrape = html.split('id="rule-ipv4-filter-FORWARD-2"')[1].split("</tr>")[0]
    assert ">new<" in scrape and "10.1.0.2/32" in scrape and "/* node exporter scrape */" in scrape


def test_the_host_page_lists_sets_drift_history_and_convergence(
        client_logged_in: Client, demo: None) -> None:
    sets = exported(client_logged_in, "/hosts/node-02/?export=sets&format=csv")
    drift = exported(client_logged_in, "/hosts/node-02/?export=drift&format=csv")
    history = exported(client_logged_in, "/hosts/node-02/?export=history&format=csv")
    convergence = exported(client_logged_in, "/hosts/node-03/?export=convergence&format=csv")

    assert {(s["name"], s["added"]) for s in sets} == {("seg-payments", "10.2.0.9"),
                                                       ("seg-web", "10.2.0.3")}
    assert {f["kind"] for f in drift} == {"excess", "stale", "shadowed", "unused", "foreign"}
    assert [h["collected"] for h in history] == ["2026-11-26T04:59:37Z", "2026-11-26T04:59:32Z"]
    assert "node exporter scrape" in history[0]["added"]
    assert "seg-web: +10.2.0.3" in history[0]["members"]
    assert history[1]["added"] == "(first snapshot)"
    assert [(c["generation"], c["converged"]) for c in convergence] == [
        ("2", "not yet"), ("1", "2026-11-26T04:59:32Z")]


def test_the_cost_page_has_its_figures_and_a_row_per_host(client_logged_in: Client,
                                                            demo: None) -> None:
    data = exported_json(client_logged_in, "/data/cost/")
    hosts = exported(client_logged_in, "/cost/?export=hosts&format=csv")
    html = page(client_logged_in, "/cost/")

    assert (data["summary"]["rules"], data["summary"]["flat_rules"]) == (62, 87)
    assert data["summary"]["traversed_max"] == 9
    assert set(data["figures"]) == {"distribution", "history", "traversed"}
    assert [h["host"] for h in hosts] == ["node-01", "node-02", "node-03"]
    assert hosts[1]["rules"] == "23" and hosts[1]["flat_rules"] == "38"
    assert 'data-value="rules">62<' in html


def test_the_overviews_cost_links_to_the_cost_page(client_logged_in: Client,
                                                    demo: None) -> None:
    html = page(client_logged_in, "/overview/")

    assert html.count('href="/cost/"') >= 5


def test_explain_links_the_deciding_rule_on_the_host_page(client_logged_in: Client,
                                                          demo: None) -> None:
    html = page(client_logged_in, "/explain/?host=node-03&hook=FORWARD&src=10.1.0.3"
                "&dst=10.3.0.2&proto=tcp&sport=40000&dport=6379&ct_state=NEW"
                "&out_iface=califc1d8994")
    host = page(client_logged_in, "/hosts/node-03/")

    assert ('id="deciding-rule" href="/hosts/node-03/#rule-ipv4-filter-seg-in-califc1d8994-2"'
            in html)
    assert 'id="rule-ipv4-filter-seg-in-califc1d8994-2"' in host


def test_the_drift_list_links_segments_workloads_and_rules(client_logged_in: Client,
                                                           demo: None) -> None:
    html = page(client_logged_in, "/drift/?kind=missing")

    assert '<a href="/segments/cache/">cache</a>' in html
    assert '<a href="/workloads/web-889a/">web-889a</a>' in html
    assert 'href="/hosts/node-03/#rule-ipv4-filter-seg-in-califc1d8994-2"' in html


@pytest.mark.parametrize("url", ["/segments/cache/", "/workloads/cache-92cc/",
                                 "/hosts/node-02/", "/cost/"])
def test_a_detail_page_asks_the_database_a_fixed_number_of_questions(
        client_logged_in: Client, demo: None, url: str,
        django_assert_max_num_queries: Any) -> None:
    # Per list, not per row: a page with more rows asks no more (the snapshot history asks
    # per snapshot listed, at most 50).
    with django_assert_max_num_queries(30):
        page(client_logged_in, url)


def test_the_flows_list_exports_what_its_filters_keep(client_logged_in: Client,
                                                       demo: None) -> None:
    drops = exported(client_logged_in, "/flows/?verdict=DROP&host=node-03&format=csv")
    everything = exported_json(client_logged_in, "/flows/?format=json")
    html = page(client_logged_in, "/flows/?verdict=DROP&host=node-03")

    assert drops and {(f["host"], f["verdict"]) for f in drops} == {("node-03", "DROP")}
    assert any(f["dst"].startswith("cache-db77 (10.3.0.2:6379)") for f in drops)
    assert everything["count"] > len(drops)
    assert "?verdict=DROP&amp;host=node-03&amp;format=csv" in html


def test_a_chain_policy_decision_links_its_chain(client_logged_in: Client,
                                                 demo: None) -> None:
    # Nothing jumps to a workload's chain for an address no workload owns: FORWARD's policy.
    html = page(client_logged_in, "/explain/?host=node-03&hook=FORWARD&src=10.1.0.3"
                "&dst=10.3.0.99&proto=tcp&sport=40000&dport=6379&ct_state=NEW")

    assert 'id="deciding-rule" href="/hosts/node-03/#chain-ipv4-filter-FORWARD"' in html
    assert 'id="chain-ipv4-filter-FORWARD"' in page(client_logged_in, "/hosts/node-03/")


def test_the_demo_shows_drift_of_every_kind_on_the_overview(client_logged_in: Client,
                                                              demo: None) -> None:
    overview = exported_json(client_logged_in, "/data/overview/")

    assert overview["drift"] == {"missing": 3, "excess": 5, "stale": 2, "shadowed": 1,
                                 "unused": 2, "foreign": 1}
    assert overview["generation"]["stragglers"] == ["node-03"]
    assert overview["drops"]["records"] > 0
