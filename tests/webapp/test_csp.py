"""Pages forbid scripts from anywhere but Segscope itself; the API docs and the admin, whose
library templates carry inline scripts, keep their own rules."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/", "/overview/", "/segment-graph/", "/login/", "/api/"])
def test_pages_carry_a_policy_allowing_scripts_from_this_origin_only(
        client_logged_in: Client, path: str) -> None:
    response = client_logged_in.get(path, HTTP_HOST="localhost")

    directives = dict(d.split(" ", 1) for d in response["Content-Security-Policy"].split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["connect-src"] == "'self' ws://localhost wss://localhost"


@pytest.mark.parametrize("path", ["/api/docs/", "/admin/login/"])
def test_the_api_docs_and_the_admin_keep_their_own_rules(client_logged_in: Client,
                                                        path: str) -> None:
    response = client_logged_in.get(path)

    assert response.status_code == 200
    assert "Content-Security-Policy" not in response
