"""Personas of the inventory, rules and flows tests: oscar the operator and node-01's agent.

Alice the viewer comes from tests/conftest.py. Each app's conftest.py imports these fixtures.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser, Group
from django.test import Client
from django.test.client import Client as BaseClient

from webapp.inventory.models import AgentToken, Host


class AgentClient(BaseClient):
    """A test client speaking as a host agent: token header, JSON bodies."""

    def __init__(self, token: str) -> None:
        super().__init__(HTTP_AUTHORIZATION=f"Token {token}")

    def send(self, path: str, body: Any) -> Any:
        """POST body as JSON and return the response."""
        return self.post(path, json.dumps(body), content_type="application/json")


@pytest.fixture
def oscar(django_user_model: type[AbstractBaseUser]) -> AbstractBaseUser:
    """Oscar, an operator: a member of the `operator` group, not staff."""
    user = django_user_model.objects.create_user(  # type: ignore[attr-defined]
        username="oscar", password="oscar-password")
    user.groups.add(Group.objects.get_or_create(name="operator")[0])
    return user


@pytest.fixture
def oscar_client(oscar: AbstractBaseUser) -> Client:
    """A browser session logged in as oscar."""
    client = Client()
    client.force_login(oscar)
    return client


@pytest.fixture
def node_01() -> Host:
    """node-01, a host of the fleet."""
    return Host.objects.create(name="node-01", addresses=["192.0.2.11"])


@pytest.fixture
def node_02() -> Host:
    """node-02, another host."""
    return Host.objects.create(name="node-02", addresses=["192.0.2.12"])


@pytest.fixture
def agent(node_01: Host) -> AgentClient:
    """node-01's agent, holding a valid token."""
    _, plaintext = AgentToken.issue(node_01)
    return AgentClient(plaintext)
