"""Browser pages, login and the health probe."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from pytest_django import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


def test_it_redirects_anonymous_users_to_login(client: Client) -> None:
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/"


def test_it_serves_the_login_page(client: Client) -> None:
    response = client.get(reverse("login"))

    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_it_logs_a_user_in_with_the_login_form(client: Client, alice: object) -> None:
    response = client.post(
        reverse("login"), {"username": "alice", "password": "alice-password"}, follow=True
    )

    assert response.redirect_chain[-1] == ("/", 302)
    assert response.context["user"].username == "alice"


def test_it_serves_the_start_page_to_a_logged_in_user(client_logged_in: Client) -> None:
    response = client_logged_in.get("/")

    assert response.status_code == 200
    assert b"Segscope" in response.content
    assert b"No hosts reported yet" in response.content
    assert reverse("api:docs").encode() in response.content


def test_it_serves_the_stylesheet(client: Client) -> None:
    response = client.get("/static/css/segscope.css")

    assert response.status_code == 200


def test_healthz_reports_database_ok(client: Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_demo_user_creates_an_admin_with_the_demo_password(
    settings: Settings, django_user_model: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.DEBUG = True
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)

    call_command("demo_user")

    admin = django_user_model.objects.get(username="admin")
    assert admin.is_superuser
    assert admin.check_password("segscope")


def test_demo_user_refuses_to_run_with_debug_off(settings: Settings) -> None:
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG"):
        call_command("demo_user")


def _django_check(**overrides: str) -> subprocess.CompletedProcess[str]:
    """Run `manage.py check` in a fresh interpreter with the given environment overrides."""
    environment = {**os.environ, **overrides}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_settings_fail_loudly_on_bad_debug_value() -> None:
    result = _django_check(DEBUG="maybe")

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_settings_refuse_to_run_without_a_secret_key_when_debug_is_off() -> None:
    result = _django_check(DEBUG="false", SECRET_KEY="")

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_settings_fail_loudly_on_an_unsupported_database_url() -> None:
    result = _django_check(DATABASE_URL="mysql://root@127.0.0.1/test")

    assert result.returncode != 0
    assert "DATABASE_URL must be a sqlite:// or postgres:// URL" in result.stderr
