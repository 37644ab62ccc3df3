"""The service matrix over REST and on its page, for node-02's stored snapshot."""

import pytest

pytestmark = pytest.mark.django_db

ASK = {"host": "node-02", "chain": "FORWARD", "proto": "tcp", "dport": 5432}
EXPECTED = {"classes": {"0.0.0.0": ["0.0.0.0-10.1.0.4", "10.1.0.6-255.255.255.255"],
                        "10.1.0.5": ["10.1.0.5-10.1.0.5"]},
            "edges": [["10.1.0.5", "0.0.0.0"], ["10.1.0.5", "10.1.0.5"]]}


def test_it_answers_the_clis_json(client_logged_in, node_02_with_a_drop):
    # -o cali0003 cannot be decided: the jump may be taken, and 10.1.0.5 may be accepted.
    response = client_logged_in.post("/api/service-matrix/", ASK, content_type="application/json")
    assert response.status_code == 200
    assert response.json() == EXPECTED


def test_it_reads_an_ipassmt_and_another_port(client_logged_in, node_02_with_a_drop):
    response = client_logged_in.post(
        "/api/service-matrix/", {**ASK, "dport": 22, "ipassmt": "lo = [127.0.0.0/8]"},
        content_type="application/json")
    assert response.json() == {"classes": {"0.0.0.0": ["0.0.0.0-255.255.255.255"]}, "edges": []}


def test_it_refuses_a_bad_ipassmt(client_logged_in, node_02_with_a_drop):
    response = client_logged_in.post("/api/service-matrix/", {**ASK, "ipassmt": "lo 1.2.3.4"},
                                     content_type="application/json")
    assert response.status_code == 400


def test_it_says_when_a_host_sent_no_rules(client_logged_in):
    from webapp.inventory.models import Host

    Host.objects.create(name="node-09", addresses=[])
    response = client_logged_in.post("/api/service-matrix/", {**ASK, "host": "node-09"},
                                     content_type="application/json")
    assert response.status_code == 409


def test_it_requires_a_login(client):
    assert client.post("/api/service-matrix/", ASK).status_code in (401, 403)


def test_it_is_in_the_openapi_schema(client_logged_in):
    assert "/api/service-matrix/" in client_logged_in.get("/api/schema/").content.decode()


def test_the_page_shows_classes_and_edges(client_logged_in, node_02_with_a_drop):
    page = client_logged_in.post("/service-matrix/", {**ASK, "table": "filter",
                                                      "sport": 10000}).content.decode()
    assert "10.1.0.6-255.255.255.255" in page
    assert "✔" in page
