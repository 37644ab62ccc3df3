"""Intent versions over REST: operators publish them once, everyone logged in reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.test import Client

from webapp.policy.models import IntentVersion

pytestmark = pytest.mark.django_db

V3 = """\
# payments may reach the ledger's database, nothing else
segments:
  payments: {app: payments}
  ledger:   {app: ledger, env: prod}
allow:
  - {from: payments, to: ledger, ports: [tcp/5432, tcp/8000-8100]}
  - {from: "cidr:10.0.0.0/8", to: ledger, ports: [udp/53]}
default: deny
published_at: 2026-11-26T05:00:00+01:00
"""


def publish(client: Client, version: str, text: str) -> Any:
    return client.post("/api/intents/", json.dumps({"version": version, "text": text}),
                       content_type="application/json")


def test_it_stores_oscars_version_as_written(oscar_client: Client) -> None:
    response = publish(oscar_client, "v3", V3)

    assert response.status_code == 201
    body = response.json()
    assert (body["version"], body["kind"]) == ("v3", "segscope")
    assert body["published_at"] == "2026-11-26T04:00:00Z"
    assert body["segments"] == {"payments": {"app": "payments"},
                                "ledger": {"app": "ledger", "env": "prod"}}
    assert body["allows"][0] == {"from": "payments", "to": "ledger",
                                 "ports": ["tcp/5432", "tcp/8000-8100"]}
    assert body["allows"][1]["from"] == "cidr:10.0.0.0/8"
    stored = IntentVersion.objects.get()
    assert stored.text == V3
    assert body["sha256"] == stored.sha256 and len(stored.sha256) == 64


def test_it_publishes_a_version_without_published_at_at_its_upload(oscar_client: Client) -> None:
    text = V3.replace("published_at: 2026-11-26T05:00:00+01:00\n", "")

    body = publish(oscar_client, "v3", text).json()

    assert body["published_at"] == body["uploaded_at"]


def test_it_changes_nothing_when_the_same_version_comes_again(oscar_client: Client) -> None:
    first = publish(oscar_client, "v3", V3).json()

    again = publish(oscar_client, "v3", V3)

    assert again.status_code == 200
    assert again.json() == first
    assert IntentVersion.objects.count() == 1


def test_it_refuses_the_same_version_with_other_text(oscar_client: Client) -> None:
    publish(oscar_client, "v3", V3)

    response = publish(oscar_client, "v3", V3.replace("tcp/5432", "tcp/5433"))

    assert response.status_code == 409
    assert response.json()["error"]["path"] == "text"
    assert "stored with other text" in response.json()["error"]["reason"]
    assert IntentVersion.objects.get().text == V3


@pytest.mark.parametrize(("text", "path"), [
    (V3.replace("tcp/8000-8100", "tcp/99999"), "allow[0].ports[1]"),
    (V3.replace("to: ledger, ports: [udp/53]", "to: vault, ports: [udp/53]"), "allow[1].to"),
    (V3.replace("2026-11-26T05:00:00+01:00", "2026-11-26T05:00:00"), "published_at"),
    ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n", "metadata.name"),
])
def test_a_bad_document_names_the_field_and_stores_nothing(oscar_client: Client, text: str,
                                                           path: str) -> None:
    response = publish(oscar_client, "v3", text)

    assert response.status_code == 400
    assert response.json()["error"]["path"] == path
    assert not IntentVersion.objects.exists()


def test_a_yaml_syntax_error_names_its_line(oscar_client: Client) -> None:
    response = publish(oscar_client, "v3", "segments:\n  web: {app: web\nallow: []\n")

    assert response.status_code == 400
    assert "line 3" in response.json()["error"]["reason"]


def test_a_version_must_be_able_to_name_a_file(oscar_client: Client) -> None:
    response = publish(oscar_client, "../v3", V3)

    assert response.status_code == 400
    assert response.json()["error"]["path"] == "version"
    assert not IntentVersion.objects.exists()


def test_anonymous_users_may_neither_publish_nor_read(client: Client) -> None:
    assert publish(client, "v3", V3).status_code in (401, 403)
    assert client.get("/api/intents/").status_code in (401, 403)
    assert not IntentVersion.objects.exists()


def test_alice_may_not_publish(client_logged_in: Client) -> None:
    response = publish(client_logged_in, "v3", V3)

    assert response.status_code == 403
    assert not IntentVersion.objects.exists()


def test_staff_may_publish(client: Client, admin_user: object) -> None:
    client.force_login(admin_user)  # type: ignore[arg-type]

    assert publish(client, "v3", V3).status_code == 201


def test_alice_reads_versions_newest_first(oscar_client: Client,
                                           client_logged_in: Client) -> None:
    publish(oscar_client, "v2", V3.replace("05:00:00", "04:00:00"))
    publish(oscar_client, "v3", V3)
    publish(oscar_client, "v1", V3.replace("05:00:00", "03:00:00"))

    listed = client_logged_in.get("/api/intents/").json()["results"]
    one = client_logged_in.get(f"/api/intents/{listed[0]['id']}/").json()

    assert [v["version"] for v in listed] == ["v3", "v2", "v1"]
    assert one == listed[0]


def test_the_schema_documents_every_answer_of_publishing(tmp_path: Path) -> None:
    out = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))

    paths = yaml.safe_load(out.read_text())["paths"]
    assert {"/api/intents/", "/api/intents/{id}/"} <= set(paths)
    assert set(paths["/api/intents/"]["post"]["responses"]) == {
        "200", "201", "400", "403", "409", "413"}


NETPOL = (Path(__file__).resolve().parents[2] / "collectors" / "data" / "netpol"
          / "docs-test-network-policy.json")


def test_it_stores_kubernetes_network_policies_as_a_version(oscar_client: Client) -> None:
    response = publish(oscar_client, "k8s-1", NETPOL.read_text())

    assert response.status_code == 201
    body = response.json()
    assert (body["kind"], body["allows"], body["default"]) == (
        "networkpolicy", [], "deny where selected")
    assert body["segments"] == {"ns/default": {"io.kubernetes.pod.namespace": "default"}}
    listed = oscar_client.get("/api/intents/").json()
    assert [v["kind"] for v in listed["results"]] == ["networkpolicy"]


def test_a_bad_network_policy_names_its_field(oscar_client: Client) -> None:
    text = NETPOL.read_text().replace('"protocol": "TCP"', '"protocol": "ICMP"', 1)

    response = publish(oscar_client, "k8s-1", text)

    assert response.status_code == 400
    assert "protocol" in response.json()["error"]["path"]
    assert not IntentVersion.objects.exists()
