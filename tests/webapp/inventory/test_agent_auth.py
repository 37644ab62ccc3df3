"""Agent tokens: per host, hashed, refused when unknown, revoked or used for another host."""

import hashlib

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from tests.webapp.inventory.personas import AgentClient
from webapp.inventory.models import AgentToken, Host

pytestmark = pytest.mark.django_db

HEARTBEAT = "/api/ingest/heartbeat/"


def _beat(host: str = "node-01") -> dict[str, str]:
    return {"host": host, "sent_at": "2026-11-26T03:00:05Z", "snapshot_hash": "0" * 64}


def test_node_01_sends_a_heartbeat_with_its_token(agent: AgentClient) -> None:
    response = agent.send(HEARTBEAT, _beat())

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "known": False}


def test_an_unknown_token_gets_401(node_01: Host) -> None:
    response = AgentClient("not-a-token").send(HEARTBEAT, _beat())

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_no_token_gets_401(client: Client, node_01: Host) -> None:
    response = client.post(HEARTBEAT, _beat(), content_type="application/json")

    assert response.status_code == 401


def test_a_revoked_token_gets_401(node_01: Host) -> None:
    token, plaintext = AgentToken.issue(node_01)
    token.revoked_at = timezone.now()
    token.save()

    response = AgentClient(plaintext).send(HEARTBEAT, _beat())

    assert response.status_code == 401


def test_a_token_for_another_host_gets_403(agent: AgentClient, node_02: Host) -> None:
    response = agent.send(HEARTBEAT, _beat("node-02"))

    assert response.status_code == 403


@pytest.mark.parametrize("path", ["/api/ingest/snapshots/", "/api/ingest/flows/"])
def test_every_ingest_endpoint_refuses_another_hosts_body(
        agent: AgentClient, node_02: Host, path: str) -> None:
    response = agent.send(path, {"host": "node-02", "collected_at": "2026-11-26T03:00:05Z",
                                 "dumps": {"iptables-save": ""}, "text": ""})

    assert response.status_code == 403
    assert not node_02.snapshots.exists() and not node_02.flow_batches.exists()


def test_alices_login_is_no_agent_token(client_logged_in: Client, node_01: Host) -> None:
    response = client_logged_in.post(HEARTBEAT, _beat(), content_type="application/json")

    assert response.status_code == 401


def test_a_token_is_stored_only_as_its_sha256(node_01: Host) -> None:
    token, plaintext = AgentToken.issue(node_01)

    assert token.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in str(AgentToken.objects.values_list().get())


def test_create_agent_token_creates_the_host_and_prints_a_working_token(
        capsys: pytest.CaptureFixture[str]) -> None:
    call_command("create_agent_token", "node-05")

    plaintext = capsys.readouterr().out.strip()
    assert Host.objects.filter(name="node-05").exists()
    response = AgentClient(plaintext).send(HEARTBEAT, _beat("node-05"))
    assert response.status_code == 200
