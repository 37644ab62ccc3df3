"""Secrets never reach a log: driving logins (good and bad), HTTP basic, ingest with good,
unknown and revoked tokens, and token rotation, in this process (every logger at DEBUG, SQL
included) and through a uvicorn server logging at DEBUG, no log line holds the SECRET_KEY,
an agent token, a password or the database password."""

from __future__ import annotations

import base64
import http.cookiejar
import json
import logging
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import connection
from django.test import Client

from tests.browser.servers import LiveServer, start_uvicorn, stop
from webapp import logins
from webapp.inventory.models import Host
from webapp.inventory.tokens import issue_agent_token

HEARTBEAT = "/api/ingest/heartbeat/"
PASSWORD = "olga-" + secrets.token_urlsafe(12)
WRONG_PASSWORD = "guess-" + secrets.token_urlsafe(12)
UNKNOWN_TOKEN = secrets.token_urlsafe(32)
SERVER_SECRET_KEY = secrets.token_urlsafe(50)


def _beat(host: Host) -> bytes:
    return json.dumps({"host": host.name, "sent_at": "2026-11-26T03:00:05Z",
                       "snapshot_hash": "0" * 64}).encode()


@pytest.fixture
def olga(django_user_model: type[AbstractBaseUser]) -> Iterator[AbstractBaseUser]:
    """Olga, an operator with a password of this test run."""
    user = django_user_model.objects.create_user(  # type: ignore[attr-defined]
        username="olga", password=PASSWORD)
    user.groups.add(Group.objects.get_or_create(name="operator")[0])
    yield user
    logins.forget("127.0.0.1", "olga")


def _secrets(*tokens: str) -> dict[str, str]:
    found = {f"agent token {n}": token for n, token in enumerate(tokens, 1)}
    found.update({"password": PASSWORD, "wrong password": WRONG_PASSWORD,
                  "unknown token": UNKNOWN_TOKEN})
    if connection.settings_dict["PASSWORD"]:
        found["database password"] = str(connection.settings_dict["PASSWORD"])
    return found


def _assert_absent(log: str, found: dict[str, str]) -> None:
    leaked = [name for name, value in found.items() if value in log]
    assert leaked == [], f"in the log: {leaked}"


@pytest.mark.django_db
def test_nothing_secret_reaches_the_log_of_this_process(
        caplog: pytest.LogCaptureFixture, settings: Any, olga: AbstractBaseUser) -> None:
    settings.DEBUG = True  # the database backend logs every query, parameters included
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")
    node = Host.objects.create(name="node-01")
    token, first = issue_agent_token(node, None, via="command")
    browser = Client()

    browser.post("/login/", {"username": "olga", "password": WRONG_PASSWORD})
    browser.post("/login/", {"username": "olga", "password": PASSWORD})
    basic = base64.b64encode(f"olga:{PASSWORD}".encode()).decode()
    Client().get("/api/hosts/", HTTP_AUTHORIZATION=f"Basic {basic}")
    for secret in (first, UNKNOWN_TOKEN):
        Client(HTTP_AUTHORIZATION=f"Token {secret}").post(HEARTBEAT, _beat(node),
                                                          content_type="application/json")
    second = browser.post(f"/api/agent-tokens/{token.pk}/rotate/").json()["token"]
    refused = Client(HTTP_AUTHORIZATION=f"Token {first}").post(
        HEARTBEAT, _beat(node), content_type="application/json")

    assert refused.status_code == 401
    assert any(r.name == "django.db.backends" for r in caplog.records)
    _assert_absent(caplog.text, {**_secrets(first, second), "SECRET_KEY": settings.SECRET_KEY})


class _Session:
    """A browser's session against the served application: cookies and the CSRF token."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def csrf(self) -> str:
        return next(c.value for c in self.jar if c.name == "csrftoken")

    def call(self, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path, data=body, method=method,
                                         headers=headers or {})
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def login(self, password: str) -> int:
        self.call("GET", "/login/")
        form = urllib.parse.urlencode({"username": "olga", "password": password,
                                       "csrfmiddlewaretoken": self.csrf()}).encode()
        status, _ = self.call("POST", "/login/", form,
                              {"Content-Type": "application/x-www-form-urlencoded",
                               "Referer": self.url + "/login/"})
        return status


@pytest.fixture
def logging_server(tmp_path: Path, django_db_setup: None) -> Iterator[tuple[LiveServer, Path]]:
    """uvicorn and the application logging everything at DEBUG into a file."""
    if connection.vendor != "postgresql":
        pytest.skip("the server process shares the test database over PostgreSQL")
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        server = start_uvicorn("debug", output, LOG_LEVEL="DEBUG",
                               SECRET_KEY=SERVER_SECRET_KEY)
        try:
            yield server, log
        finally:
            stop(server.process)


@pytest.mark.django_db(transaction=True)
def test_nothing_secret_reaches_the_servers_log(
        logging_server: tuple[LiveServer, Path], olga: AbstractBaseUser) -> None:
    server, log = logging_server
    node = Host.objects.create(name="node-01")
    token, first = issue_agent_token(node, None, via="command")
    browser = _Session(server.url)

    assert browser.login(WRONG_PASSWORD) == 200
    assert browser.login(PASSWORD) == 200  # followed the redirect to the start page
    basic = base64.b64encode(f"olga:{PASSWORD}".encode()).decode()
    assert _Session(server.url).call("GET", "/api/hosts/",
                                     headers={"Authorization": f"Basic {basic}"})[0] == 200
    json_body = {"Content-Type": "application/json"}
    statuses = [_Session(server.url).call("POST", HEARTBEAT, _beat(node),
                                          {**json_body, "Authorization": f"Token {secret}"})[0]
                for secret in (first, UNKNOWN_TOKEN)]
    status, body = browser.call("POST", f"/api/agent-tokens/{token.pk}/rotate/", b"",
                                {"X-CSRFToken": browser.csrf(), "Referer": server.url + "/"})
    second = json.loads(body)["token"]
    revoked = _Session(server.url).call("POST", HEARTBEAT, _beat(node),
                                        {**json_body, "Authorization": f"Token {first}"})[0]
    stop(server.process)

    assert (statuses, status, revoked) == ([200, 401], 201, 401)
    text = log.read_text()
    assert "POST /api/ingest/heartbeat/" in text  # uvicorn's access log is there
    assert "django.db.backends" in text  # and the application's DEBUG lines
    _assert_absent(text, {**_secrets(first, second), "SECRET_KEY": SERVER_SECRET_KEY})
