"""The audit log: what is recorded where it happens, and how auditors and admins read it."""

from __future__ import annotations

import csv
import io
import json
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.core.management import call_command
from django.test import Client

from webapp.audit.models import AuditEvent
from webapp.audit.services import record_event
from webapp.inventory.models import AgentToken, Host

pytestmark = pytest.mark.django_db

INTENT = ("segments:\n  web: {app: web}\n  db: {app: db}\n"
          "allow:\n  - {from: web, to: db, ports: [tcp/5432]}\ndefault: deny\n")


@pytest.fixture
def root_client(django_user_model: Any) -> Client:
    """A superuser's session, as the admin site needs."""
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("root", password="root-pw"))
    return client


def _actions(**filters: Any) -> list[str]:
    return list(AuditEvent.objects.filter(**filters).order_by("id").values_list(
        "action", flat=True))


def test_a_token_issued_in_the_admin_is_recorded(root_client: Client, node_01: Host) -> None:
    root_client.post("/admin/inventory/host/", {"action": "issue_agent_token",
                                                "_selected_action": [node_01.pk]})

    event = AuditEvent.objects.get(action="token-created")
    token = AgentToken.objects.get(host=node_01)
    assert event.username == "root"
    assert event.details == {"host": "node-01", "token": token.pk, "via": "admin"}


def test_a_token_revoked_in_the_admin_is_recorded_once(root_client: Client,
                                                       node_01: Host) -> None:
    token, _ = AgentToken.issue(node_01)
    for _ in range(2):
        root_client.post("/admin/inventory/agenttoken/", {"action": "revoke",
                                                          "_selected_action": [token.pk]})

    assert _actions(action="token-revoked") == ["token-revoked"]
    assert AuditEvent.objects.get(action="token-revoked").details["host"] == "node-01"


def test_a_token_issued_on_the_command_line_is_recorded() -> None:
    call_command("create_agent_token", "node-07", stdout=StringIO(), stderr=StringIO())

    event = AuditEvent.objects.get(action="token-created")
    assert event.username == "" and event.details["via"] == "command"


def test_an_intent_upload_is_recorded(oscar_client: Client) -> None:
    body = json.dumps({"version": "v1", "text": INTENT})
    for _ in range(2):
        oscar_client.post("/api/intents/", body, content_type="application/json")

    events = AuditEvent.objects.filter(action="intent-upload").order_by("id")
    assert [(e.username, e.details["version"], e.details["created"]) for e in events] == [
        ("oscar", "v1", True), ("oscar", "v1", False)]


def test_auditors_read_it_newest_first_in_pages(audrey_client: Client,
                                                alice: AbstractBaseUser) -> None:
    for i in range(3):
        record_event(alice, "what-if", change=f"change {i}")

    body = audrey_client.get("/api/audit-log/", {"action": "what-if", "page_size": 2}).json()

    assert body["count"] == 3 and body["next"]
    assert [e["details"]["change"] for e in body["results"]] == ["change 2", "change 1"]
    assert set(body["results"][0]) == {"id", "at", "user", "action", "details"}


def test_it_filters_by_user_and_time(audrey_client: Client, alice: AbstractBaseUser,
                                     oscar: AbstractBaseUser) -> None:
    record_event(alice, "what-if")
    record_event(oscar, "what-if")
    AuditEvent.objects.filter(username="alice").update(at="2026-01-01T00:00:00Z")

    by_user = audrey_client.get("/api/audit-log/", {"user": "oscar", "action": "what-if"})
    by_time = audrey_client.get("/api/audit-log/", {"at_before": "2026-06-01T00:00:00Z"})

    assert [e["user"] for e in by_user.json()["results"]] == ["oscar"]
    assert [e["user"] for e in by_time.json()["results"]] == ["alice"]


def test_it_exports_every_matching_event_as_csv_safe_for_spreadsheets(
        audrey_client: Client, alice: AbstractBaseUser) -> None:
    for i in range(150):
        record_event(alice, "what-if", change=f"change {i}")
    record_event(alice, "what-if", change="=cmd|' /C calc'!A0")
    alice.username = "=HYPERLINK(1)"
    alice.save()
    record_event(alice, "what-if")

    response = audrey_client.get("/api/audit-log/", {"format": "csv", "action": "what-if"})

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["id", "at", "user", "action", "details"]
    assert len(rows) == 1 + 152  # not a page: every event
    assert rows[1][2] == "'=HYPERLINK(1)"
    assert json.loads(rows[2][4]) == {"change": "=cmd|' /C calc'!A0"}


def test_admins_read_it_and_viewers_and_operators_do_not(ada_client: Client,
                                                         client_logged_in: Client,
                                                         oscar_client: Client) -> None:
    assert ada_client.get("/api/audit-log/").status_code == 200
    assert client_logged_in.get("/api/audit-log/").status_code == 403
    assert oscar_client.get("/api/audit-log/", {"format": "csv"}).status_code == 403
    assert Client().get("/api/audit-log/").status_code == 403
