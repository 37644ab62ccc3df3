"""Production settings pass Django's deployment checks, and sessions and CSRF behave as Django
recommends."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client

from webapp.inventory.models import Host

REPO_ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "segscope.example.net",
    "CSRF_TRUSTED_ORIGINS": "https://segscope.example.net",
    "DATABASE_URL": "postgres://segscope:db-password@127.0.0.1:5432/segscope",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "BEHIND_TLS_PROXY": "true",
}


def _manage(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "SESSION_"))}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO_ROOT,
                          env={**clean, **environment}, capture_output=True, text=True,
                          timeout=120)


def test_check_deploy_finds_nothing_with_the_production_environment() -> None:
    # The API schema check reads the database, which this URL does not name: unpooled, the
    # refused connection is one error the check passes over; a pool would retry it until its
    # timeout, logging each attempt.
    result = _manage("check", "--deploy", "--fail-level", "WARNING",
                     **{**PRODUCTION, "DATABASE_POOL_SIZE": "0"})

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr + result.stdout


def test_check_deploy_flags_a_weak_secret_key() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING",
                     **{**PRODUCTION, "SECRET_KEY": "short"})

    assert result.returncode != 0
    assert "security.W009" in result.stderr + result.stdout


@pytest.mark.django_db
def test_a_session_post_without_the_csrf_token_is_refused(
        oscar: AbstractBaseUser, node_01: Host) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(oscar)

    response = browser.post("/api/agent-tokens/", {"host": node_01.pk},
                            content_type="application/json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


@pytest.mark.django_db
def test_the_session_cookie_is_http_only_and_same_site(oscar: AbstractBaseUser) -> None:
    browser = Client()
    browser.get("/login/")
    response = browser.post("/login/", {"username": "oscar", "password": "oscar-password"})

    cookie = response.cookies["sessionid"]
    assert response.status_code == 302
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == 12 * 60 * 60
