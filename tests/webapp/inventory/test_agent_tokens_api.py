"""Operators issue, rotate and revoke agent tokens through the API: the secret is shown once
and stored hashed, a revoked token is refused on its very next request, viewers are refused,
and every action is in the audit log."""

from __future__ import annotations

import hashlib

import pytest
from django.test import Client

from tests.webapp.inventory.personas import AgentClient
from webapp.audit.models import AuditEvent
from webapp.inventory.models import AgentToken, Host

pytestmark = pytest.mark.django_db

TOKENS = "/api/agent-tokens/"
HEARTBEAT = "/api/ingest/heartbeat/"


def _beat(host: Host) -> dict[str, str]:
    return {"host": host.name, "sent_at": "2026-11-26T03:00:05Z", "snapshot_hash": "0" * 64}


def _issue(client: Client, host: Host) -> dict[str, object]:
    response = client.post(TOKENS, {"host": host.pk}, content_type="application/json")
    assert response.status_code == 201, response.content
    answer: dict[str, object] = response.json()
    return answer


def test_oscar_issues_a_token_that_is_shown_once_and_stored_hashed(
        oscar_client: Client, node_01: Host) -> None:
    issued = _issue(oscar_client, node_01)

    secret = str(issued["token"])
    stored = AgentToken.objects.get(pk=issued["id"])
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(AgentToken.objects.values().get(pk=stored.pk))
    assert issued["host_name"] == "node-01" and issued["active"] is True
    listed = oscar_client.get(TOKENS, {"host": node_01.pk}).json()["results"]
    assert [t["id"] for t in listed] == [stored.pk]
    assert "token" not in listed[0] and "token_hash" not in listed[0]
    assert "token" not in oscar_client.get(f"{TOKENS}{stored.pk}/").json()


def test_the_issued_token_ingests_for_its_host(oscar_client: Client, node_01: Host) -> None:
    secret = str(_issue(oscar_client, node_01)["token"])

    assert AgentClient(secret).send(HEARTBEAT, _beat(node_01)).status_code == 200


def test_a_revoked_token_is_refused_on_its_very_next_request(
        oscar_client: Client, node_01: Host) -> None:
    issued = _issue(oscar_client, node_01)
    agent = AgentClient(str(issued["token"]))
    assert agent.send(HEARTBEAT, _beat(node_01)).status_code == 200

    assert oscar_client.delete(f"{TOKENS}{issued['id']}/").status_code == 204

    refused = agent.send(HEARTBEAT, _beat(node_01))
    assert refused.status_code == 401
    assert oscar_client.get(f"{TOKENS}{issued['id']}/").json()["active"] is False


def test_rotation_revokes_the_old_token_and_shows_the_new_one_once(
        oscar_client: Client, node_01: Host) -> None:
    old = _issue(oscar_client, node_01)

    response = oscar_client.post(f"{TOKENS}{old['id']}/rotate/")

    assert response.status_code == 201
    new = response.json()
    assert new["id"] != old["id"] and new["host"] == node_01.pk
    assert AgentClient(str(old["token"])).send(HEARTBEAT, _beat(node_01)).status_code == 401
    assert AgentClient(str(new["token"])).send(HEARTBEAT, _beat(node_01)).status_code == 200


def test_a_revoked_token_cannot_be_rotated(oscar_client: Client, node_01: Host) -> None:
    issued = _issue(oscar_client, node_01)
    oscar_client.delete(f"{TOKENS}{issued['id']}/")

    response = oscar_client.post(f"{TOKENS}{issued['id']}/rotate/")

    assert response.status_code == 409
    assert AgentToken.objects.filter(host=node_01).count() == 1


def test_alice_the_viewer_may_not_see_issue_rotate_or_revoke_tokens(
        client_logged_in: Client, node_01: Host) -> None:
    token, _ = AgentToken.issue(node_01)

    assert client_logged_in.get(TOKENS).status_code == 403
    assert client_logged_in.post(TOKENS, {"host": node_01.pk},
                                 content_type="application/json").status_code == 403
    assert client_logged_in.post(f"{TOKENS}{token.pk}/rotate/").status_code == 403
    assert client_logged_in.delete(f"{TOKENS}{token.pk}/").status_code == 403
    assert AgentToken.objects.get().is_active
    assert AgentToken.objects.count() == 1


def test_an_anonymous_caller_and_an_agent_may_not_manage_tokens(
        client: Client, agent: AgentClient, node_01: Host) -> None:
    assert client.post(TOKENS, {"host": node_01.pk},
                       content_type="application/json").status_code in (401, 403)
    assert agent.send(TOKENS, {"host": node_01.pk}).status_code in (401, 403)


def test_every_token_action_is_in_the_audit_log(oscar_client: Client, node_01: Host) -> None:
    first = _issue(oscar_client, node_01)
    second = oscar_client.post(f"{TOKENS}{first['id']}/rotate/").json()
    oscar_client.delete(f"{TOKENS}{second['id']}/")
    oscar_client.delete(f"{TOKENS}{second['id']}/")  # revoking again records nothing

    events = [(e.username, e.action, e.details)
              for e in AuditEvent.objects.exclude(action="login").order_by("id")]
    assert events == [
        ("oscar", "token-created", {"host": "node-01", "token": first["id"], "via": "api"}),
        ("oscar", "token-revoked", {"host": "node-01", "token": first["id"], "via": "api"}),
        ("oscar", "token-created", {"host": "node-01", "token": second["id"], "via": "api",
                                    "replaces": first["id"]}),
        ("oscar", "token-revoked", {"host": "node-01", "token": second["id"], "via": "api"}),
    ]
    assert not any(str(first["token"]) in str(e) or str(second["token"]) in str(e)
                   for e in events)
