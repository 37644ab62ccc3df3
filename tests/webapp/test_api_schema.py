"""API root, OpenAPI schema and its offline docs pages."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_it_serves_the_openapi_schema(client_logged_in: Client) -> None:
    response = client_logged_in.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Segscope API"


def test_it_refuses_the_api_to_anonymous_users(client: Client) -> None:
    response = client.get("/api/")

    assert response.status_code in (401, 403)


def test_it_lists_the_schema_and_docs_at_the_api_root(client_logged_in: Client) -> None:
    response = client_logged_in.get("/api/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert response.json()["schema"].endswith("/api/schema/")
    assert response.json()["docs"].endswith("/api/docs/")


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_it_serves_the_docs_pages_without_a_cdn(client_logged_in: Client, page: str) -> None:
    response = client_logged_in.get(page)

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn.jsdelivr.net" not in html
    assert "unpkg.com" not in html


def test_it_serves_the_docs_assets_itself(client: Client) -> None:
    response = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")

    assert response.status_code == 200


def test_it_sends_anonymous_browsers_from_the_docs_to_login(client: Client) -> None:
    response = client.get("/api/docs/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
