"""The audit log's service: record_event, and logins recorded as they happen."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.test import Client

from webapp.api.permissions import ROLES
from webapp.audit.models import AuditEvent
from webapp.audit.services import record_event

pytestmark = pytest.mark.django_db


def test_it_records_who_did_what_with_details(alice: AbstractBaseUser) -> None:
    event = record_event(alice, "what-if", change="iptables -I FORWARD 1 -j ACCEPT", opened=3)

    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.user, stored.username, stored.action) == (alice, "alice", "what-if")
    assert stored.details == {"change": "iptables -I FORWARD 1 -j ACCEPT", "opened": 3}


def test_it_records_the_command_line_without_a_user() -> None:
    event = record_event(AnonymousUser(), "export", at="2026-11-26T04:59:37Z")

    assert event.user is None and event.username == ""


def test_it_refuses_an_unknown_action(alice: AbstractBaseUser) -> None:
    with pytest.raises(ValueError, match="unknown audit action"):
        record_event(alice, "coffee")


def test_it_records_a_login_through_the_login_page(alice: AbstractBaseUser) -> None:
    response = Client().post("/login/", {"username": "alice", "password": "alice-password"})

    assert response.status_code == 302
    event = AuditEvent.objects.get(action="login")
    assert event.username == "alice" and event.details["path"] == "/login/"


def test_it_creates_a_group_for_every_role() -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)
