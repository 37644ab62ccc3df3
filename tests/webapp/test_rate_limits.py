"""Rate limits in the shared Redis cache: failed logins lock out a user name and a client
address with 429 and Retry-After, whichever way the password comes, and are audited; an agent
token past its ingest rate gets 429."""

from __future__ import annotations

import base64
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.test import Client

from tests.webapp.inventory.personas import AgentClient
from webapp import logins
from webapp.audit.models import AuditEvent
from webapp.inventory.models import AgentToken, Host

pytestmark = pytest.mark.django_db

HEARTBEAT = "/api/ingest/heartbeat/"


@pytest.fixture(autouse=True)
def redis_cache(settings: Any) -> None:
    """The counts live where every web process sees them: Redis, as `make test` runs it."""
    if not settings.REDIS_URL:
        pytest.fail("rate-limit tests need REDIS_URL (the shared cache)", pytrace=False)
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    settings.SEGSCOPE_LOGIN_FAILURES_PER_USER = 3
    settings.SEGSCOPE_LOGIN_FAILURES_PER_ADDRESS = 5


@pytest.fixture
def address() -> Iterator[str]:
    """A client address of this test alone, its counts cleared afterwards."""
    value = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    logins.forget(value, None)
    yield value
    logins.forget(value, None)


@pytest.fixture
def mallory(django_user_model: type[AbstractBaseUser]) -> Iterator[AbstractBaseUser]:
    """Mallory's account, whose password an attacker guesses; a name of this test alone."""
    name = f"mallory-{uuid.uuid4().hex[:8]}"
    user = django_user_model.objects.create_user(  # type: ignore[attr-defined]
        username=name, password="mallory-password")
    yield user
    cache.delete_many([logins._key(kind, "user", name) for kind in ("failures", "locked")])


def _login(address: str, username: str, password: str) -> Any:
    return Client(REMOTE_ADDR=address).post(
        "/login/", {"username": username, "password": password})


def test_a_user_name_is_locked_out_after_its_failed_logins(address: str, mallory: Any) -> None:
    answers = [_login(address, mallory.username, "guess").status_code for _ in range(3)]

    locked = _login(address, mallory.username, "mallory-password")

    assert answers == [200, 200, 200]  # the form again, with its error
    assert locked.status_code == 429
    assert 0 < int(locked["Retry-After"]) <= 15 * 60


def test_the_lockout_holds_for_the_name_from_another_address(address: str, mallory: Any) -> None:
    for _ in range(3):
        _login(address, mallory.username, "guess")

    elsewhere = _login("203.0.113.77", mallory.username, "mallory-password")

    assert elsewhere.status_code == 429
    logins.forget("203.0.113.77", None)


def test_an_address_is_locked_out_after_failures_over_many_names(address: str,
                                                                 mallory: Any) -> None:
    for n in range(5):
        _login(address, f"nobody-{n}-{uuid.uuid4().hex[:6]}", "guess")

    locked = _login(address, mallory.username, "mallory-password")

    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 0


def test_a_good_login_before_the_limit_succeeds_and_clears_the_names_count(
        address: str, mallory: Any) -> None:
    for _ in range(2):
        _login(address, mallory.username, "guess")

    assert _login(address, mallory.username, "mallory-password").status_code == 302
    for _ in range(2):
        _login(address, mallory.username, "guess")
    assert _login(address, mallory.username, "mallory-password").status_code == 302


def test_http_basic_guesses_count_and_are_locked_out_with_429(address: str,
                                                              mallory: Any) -> None:
    def basic(password: str) -> Any:
        pair = base64.b64encode(f"{mallory.username}:{password}".encode()).decode()
        return Client(REMOTE_ADDR=address).get("/api/hosts/",
                                               HTTP_AUTHORIZATION=f"Basic {pair}")

    assert {basic("guess").status_code for _ in range(3)} <= {401, 403}

    locked = basic("mallory-password")

    assert locked.status_code == 429
    assert locked.json()["detail"].startswith("Too many failed logins")
    assert int(locked["Retry-After"]) > 0


def test_failed_logins_are_audited_without_the_password(address: str, mallory: Any) -> None:
    for _ in range(4):
        _login(address, mallory.username, "guess-s3cret")

    events = list(AuditEvent.objects.filter(action="login-failed").order_by("id"))
    assert [e.details["locked"] for e in events] == [False, False, False, True]
    assert {(e.details["username"], e.details["address"], e.details["path"])
            for e in events} == {(mallory.username, address, "/login/")}
    assert all(e.user is None for e in events)
    assert not any("guess-s3cret" in str(e.details) for e in events)


def test_an_agent_token_past_its_ingest_rate_gets_429(settings: Any, node_01: Host) -> None:
    settings.SEGSCOPE_INGEST_RATE = "3/minute"
    _, secret = AgentToken.issue(node_01)
    agent = AgentClient(secret)
    beat = {"host": "node-01", "sent_at": "2026-11-26T03:00:05Z", "snapshot_hash": "0" * 64}

    answers = [agent.send(HEARTBEAT, beat) for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert 0 < int(answers[-1]["Retry-After"]) <= 60


def test_the_ingest_rate_is_per_token(settings: Any, node_01: Host) -> None:
    settings.SEGSCOPE_INGEST_RATE = "2/minute"
    beat = {"host": "node-01", "sent_at": "2026-11-26T03:00:05Z", "snapshot_hash": "0" * 64}
    first = AgentClient(AgentToken.issue(node_01)[1])
    for _ in range(3):
        first.send(HEARTBEAT, beat)

    second = AgentClient(AgentToken.issue(node_01)[1])

    assert second.send(HEARTBEAT, beat).status_code == 200


def test_logins_go_on_uncounted_while_the_cache_is_unreachable(
        settings: Any, django_user_model: Any, caplog: pytest.LogCaptureFixture) -> None:
    mallory = django_user_model.objects.create_user(username="mallory-offline",
                                                    password="mallory-password")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": f"redis://127.0.0.1:{port}/0"}}

    wrong = [_login("192.0.2.77", mallory.username, "guess").status_code for _ in range(4)]
    right = _login("192.0.2.77", mallory.username, "mallory-password")

    assert (wrong, right.status_code) == ([200, 200, 200, 200], 302)
    assert "login limits not applied, the cache is unreachable" in caplog.text
    assert AuditEvent.objects.filter(action="login-failed").count() == 4
