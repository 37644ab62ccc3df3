"""Hosts, workloads and segments over the API; inventory import over REST for operators."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from pytest_django import DjangoAssertNumQueries

from webapp.inventory.models import Host, Segment, Workload

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def _workload(host: Host, name: str, stopped: bool = False, **labels: str) -> Workload:
    return Workload.objects.create(
        host=host, name=name, labels=labels, addresses=["10.1.0.5"], started_at=T0,
        stopped_at=T0 + timedelta(hours=1) if stopped else None)


@pytest.mark.parametrize("path", [
    "/api/hosts/", "/api/workloads/", "/api/segments/", "/api/snapshots/", "/api/rules/",
    "/api/sets/", "/api/flows/", "/api/rejected-uploads/",
])
def test_the_read_api_requires_login(client: Client, path: str) -> None:
    response = client.get(path)

    assert response.status_code in (401, 403)


def test_alice_lists_hosts(client_logged_in: Client, node_01: Host) -> None:
    response = client_logged_in.get("/api/hosts/")

    assert response.status_code == 200
    [host] = response.json()["results"]
    assert host["name"] == "node-01"
    assert host["addresses"] == ["192.0.2.11"]


def test_alice_filters_workloads_by_host_label_and_activity(
        client_logged_in: Client, node_01: Host, node_02: Host) -> None:
    _workload(node_01, "payments-1", app="payments", env="prod")
    _workload(node_01, "payments-0", stopped=True, app="payments", env="prod")
    _workload(node_02, "payments-2", app="payments", env="staging")
    _workload(node_01, "ledger-0", app="ledger", env="prod")

    response = client_logged_in.get(
        "/api/workloads/", {"host": "node-01", "label": "app=payments,env=prod", "active": "true"})

    assert [w["name"] for w in response.json()["results"]] == ["payments-1"]
    assert response.json()["results"][0]["host_name"] == "node-01"


def test_a_malformed_label_filter_is_a_400(client_logged_in: Client) -> None:
    response = client_logged_in.get("/api/workloads/", {"label": "app"})

    assert response.status_code == 400
    assert "key=value" in response.content.decode()


def test_segments_count_the_workloads_they_select_now(
        client_logged_in: Client, node_01: Host) -> None:
    _workload(node_01, "payments-1", app="payments", env="prod")
    _workload(node_01, "payments-2", app="payments", env="staging")
    _workload(node_01, "payments-0", stopped=True, app="payments", env="prod")
    Segment.objects.create(name="payments", selector={"app": "payments"})
    Segment.objects.create(name="payments-prod", selector={"app": "payments", "env": "prod"})
    Segment.objects.create(name="everything", selector={})
    Segment.objects.create(name="nobody", selector={"app": "nothing"})

    response = client_logged_in.get("/api/segments/")

    counts = {s["name"]: s["members_count"] for s in response.json()["results"]}
    assert counts == {"payments": 2, "payments-prod": 1, "everything": 2, "nobody": 0}


def test_a_segment_lists_its_members_at_a_time(client_logged_in: Client, node_01: Host) -> None:
    _workload(node_01, "payments-1", app="payments")
    _workload(node_01, "payments-0", stopped=True, app="payments")
    segment = Segment.objects.create(name="payments", selector={"app": "payments"})

    now = client_logged_in.get(f"/api/segments/{segment.pk}/members/")
    then = client_logged_in.get(f"/api/segments/{segment.pk}/members/",
                                {"at": (T0 + timedelta(minutes=30)).isoformat()})

    assert [w["name"] for w in now.json()["results"]] == ["payments-1"]
    assert sorted(w["name"] for w in then.json()["results"]) == ["payments-0", "payments-1"]
    assert client_logged_in.get(f"/api/segments/{segment.pk}/").json()["members_count"] == 1


@pytest.mark.parametrize("at", ["2026-11-26T03:00:00+24:00", "9999-12-31T23:00:00-16:18"])
def test_a_members_time_that_is_no_time_is_refused(client_logged_in: Client, at: str) -> None:
    segment = Segment.objects.create(name="payments", selector={"app": "payments"})

    response = client_logged_in.get(f"/api/segments/{segment.pk}/members/", {"at": at})

    assert response.status_code == 400
    assert list(response.json()) == ["at"]


def test_label_keys_with_dots_and_slashes_select_members(node_01: Host) -> None:
    _workload(node_01, "web", **{"app.kubernetes.io/name": "web", "a__b": "c"})
    segment = Segment.objects.create(
        name="web", selector={"app.kubernetes.io/name": "web", "a__b": "c"})

    assert [w.name for w in segment.members()] == ["web"]


def test_alice_may_not_define_segments(client_logged_in: Client) -> None:
    response = client_logged_in.post(
        "/api/segments/", {"name": "payments", "selector": {"app": "payments"}},
        content_type="application/json")

    assert response.status_code == 403


def test_oscar_defines_a_segment(oscar_client: Client) -> None:
    response = oscar_client.post(
        "/api/segments/", {"name": "payments", "selector": {"app": "payments"}},
        content_type="application/json")

    assert response.status_code == 201
    assert response.json()["members_count"] == 0
    assert Segment.objects.get().selector == {"app": "payments"}


def test_a_selector_must_map_text_to_text(oscar_client: Client) -> None:
    response = oscar_client.post(
        "/api/segments/", {"name": "x", "selector": {"app": ["a", "b"]}},
        content_type="application/json")

    assert response.status_code == 400


def test_oscar_imports_an_inventory_over_rest(oscar_client: Client) -> None:
    body = ("workloads:\n  - {name: web-1, host: node-09, addresses: [10.9.0.1], "
            "started_at: 2026-11-26T03:00:00Z}\n")

    first = oscar_client.post("/api/inventory/", body, content_type="application/yaml")
    again = oscar_client.post("/api/inventory/", body, content_type="application/yaml")

    assert first.status_code == 200
    assert first.json()["workloads_created"] == 1
    assert again.json()["workloads_unchanged"] == 1
    assert again.json()["workloads_created"] == 0
    assert Workload.objects.get().host.name == "node-09"


def test_the_rest_import_takes_the_docker_host_from_the_query(oscar_client: Client) -> None:
    body = ('[{"Name": "/web", "State": {"Running": true, "StartedAt": "2026-11-26T03:00:00Z"},'
            ' "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}}}]')

    response = oscar_client.post("/api/inventory/?host=node-01", body,
                                 content_type="application/json")

    assert response.status_code == 200
    assert response.json()["format"] == "docker"
    assert Workload.objects.get().host.name == "node-01"


def test_the_rest_import_reads_the_format_named_in_the_query(oscar_client: Client) -> None:
    body = ('[{"Name": "/web", "State": {"Running": true, "StartedAt": "2026-11-26T03:00:00Z"},'
            ' "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}}}]')

    response = oscar_client.post("/api/inventory/?format=docker&host=node-01", body,
                                 content_type="application/json")

    assert response.status_code == 200
    assert response.json()["format"] == "docker"


def test_the_rest_import_names_the_field_of_an_error(oscar_client: Client) -> None:
    response = oscar_client.post(
        "/api/inventory/?filename=fleet.yaml",
        "workloads:\n  - {name: w, host: h, attachment: tunnel}\n",
        content_type="application/yaml")

    assert response.status_code == 400
    assert response.json()["error"]["file"] == "fleet.yaml"
    assert response.json()["error"]["path"] == "workloads[0].attachment"


def test_alice_may_not_import_inventories(client_logged_in: Client) -> None:
    response = client_logged_in.post("/api/inventory/", "hosts: []\n",
                                     content_type="application/yaml")

    assert response.status_code == 403


def test_staff_may_import_inventories(client: Client, admin_user: object) -> None:
    client.force_login(admin_user)  # type: ignore[arg-type]

    response = client.post("/api/inventory/", "hosts:\n  - {name: node-07}\n",
                           content_type="application/yaml")

    assert response.status_code == 200
    assert Host.objects.filter(name="node-07").exists()


def test_listing_workloads_takes_a_fixed_number_of_queries(
        client_logged_in: Client, node_01: Host, node_02: Host,
        django_assert_max_num_queries: DjangoAssertNumQueries) -> None:
    for i in range(30):
        _workload(node_01 if i % 2 else node_02, f"w-{i}", app="x")

    # session, user, count, page (with its hosts joined)
    with django_assert_max_num_queries(4):
        response = client_logged_in.get("/api/workloads/")

    assert response.json()["count"] == 30


def test_listing_segments_counts_members_in_one_query(
        client_logged_in: Client, node_01: Host,
        django_assert_max_num_queries: DjangoAssertNumQueries) -> None:
    for i in range(20):
        _workload(node_01, f"w-{i}", app=f"a{i % 4}")
        Segment.objects.create(name=f"s-{i}", selector={"app": f"a{i % 4}"})

    # session, user, count, page, running workloads' labels
    with django_assert_max_num_queries(5):
        response = client_logged_in.get("/api/segments/")

    assert {s["members_count"] for s in response.json()["results"]} == {5}


def test_listing_hosts_takes_a_fixed_number_of_queries(
        client_logged_in: Client, django_assert_max_num_queries: DjangoAssertNumQueries) -> None:
    Host.objects.bulk_create([Host(name=f"node-{i:02}") for i in range(30)])

    with django_assert_max_num_queries(4):
        response = client_logged_in.get("/api/hosts/")

    assert response.json()["count"] == 30
