"""The what-if page and the fix page behind "propose a fix", on the ingested demo."""

from __future__ import annotations

from pathlib import Path

from django.test import Client

STRAGGLER_FIX = ("iptables -I seg-in-califc1d8994 1 -s 10.1.0.3/32 -d 10.3.0.2/32 "
                 "-p tcp -m tcp --dport 6379 -j ACCEPT")


def test_the_whatif_page_shows_what_a_change_opens(demo: Path, oscar_client: Client) -> None:
    response = oscar_client.post("/whatif/", {"change": f"node-03: {STRAGGLER_FIX}", "days": 7})

    assert response.status_code == 200
    page = response.content.decode()
    assert "opened (1)" in page and "web-889a" in page and "cache-db77" in page
    assert "drift fixed (1)" in page


def test_the_whatif_page_names_a_malformed_line(demo: Path, oscar_client: Client) -> None:
    response = oscar_client.post("/whatif/", {"change": "node-03: iptables -L", "days": 7})
    assert "change:1: expected -I, -A, -D or -R" in response.content.decode()


def test_a_viewer_sees_the_whatif_page_but_may_not_evaluate(
        demo: Path, client_logged_in: Client) -> None:
    assert client_logged_in.get("/whatif/").status_code == 200
    response = client_logged_in.post("/whatif/", {"change": f"node-03: {STRAGGLER_FIX}"})
    assert response.status_code == 403


def test_the_fix_page_takes_addresses_from_a_flow(demo: Path,
                                                  client_logged_in: Client) -> None:
    response = client_logged_in.get("/fix/", {"src": "10.1.0.3", "dst": "10.3.0.2",
                                               "proto": "tcp", "dport": "6379"})

    assert response.status_code == 200
    assert STRAGGLER_FIX in response.content.decode()


def test_dropped_flows_carry_a_propose_a_fix_button(demo: Path,
                                                    client_logged_in: Client) -> None:
    page = client_logged_in.get("/flows/").content.decode()
    assert "propose a fix" in page and "/fix/?src=" in page


def test_an_explained_drop_offers_a_fix(demo: Path, client_logged_in: Client) -> None:
    response = client_logged_in.get("/explain/", {
        "host": "node-03", "hook": "FORWARD", "src": "10.1.0.3", "dst": "10.3.0.2",
        "proto": "tcp", "sport": "40000", "dport": "6379", "in_iface": "eth0",
        "out_iface": "califc1d8994", "ct_state": "NEW"})
    page = response.content.decode()
    assert "DROP" in page
    assert "/fix/?src=10.1.0.3&amp;dst=10.3.0.2&amp;proto=tcp&amp;dport=6379" in page
