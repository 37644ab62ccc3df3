"""Personas of the audit tests: alice the viewer (tests/conftest.py), oscar the operator,
audrey the auditor and ada the admin."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AbstractBaseUser, Group
from django.test import Client

from tests.webapp.inventory.personas import agent, node_01, node_02, oscar, oscar_client

__all__ = ["agent", "node_01", "node_02", "oscar", "oscar_client"]


def _member(model: type[AbstractBaseUser], name: str, group: str) -> AbstractBaseUser:
    user = model.objects.create_user(  # type: ignore[attr-defined]
        username=name, password=f"{name}-password")
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def audrey(django_user_model: type[AbstractBaseUser]) -> AbstractBaseUser:
    """Audrey, an auditor: a member of the `auditor` group."""
    return _member(django_user_model, "audrey", "auditor")


@pytest.fixture
def ada(django_user_model: type[AbstractBaseUser]) -> AbstractBaseUser:
    """Ada, an admin: a member of the `admin` group, not a superuser."""
    return _member(django_user_model, "ada", "admin")


@pytest.fixture
def audrey_client(audrey: AbstractBaseUser) -> Client:
    """A browser session logged in as audrey."""
    client = Client()
    client.force_login(audrey)
    return client


@pytest.fixture
def ada_client(ada: AbstractBaseUser) -> Client:
    """A browser session logged in as ada."""
    client = Client()
    client.force_login(ada)
    return client
