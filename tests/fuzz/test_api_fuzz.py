"""The REST API under fuzzing from its own OpenAPI schema, on the application as deployed (uvicorn
serving the ASGI application on the test database): cases fitting the schema and cases breaking
it, sent as an admin's browser session or, on the ingest endpoints, with a host's agent token.
No answer is a server error, every answer is one the schema documents (status code, content type
and body), and a refused request (4xx) changes no row of any table."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from django.apps import apps
from django.db import connection
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.browser.servers import LiveServer, start_uvicorn, stop

pytestmark = pytest.mark.django_db(transaction=True)

# SEGSCOPE_API_FUZZ_EXAMPLES=500 for a long campaign; per operation and generation mode.
EXAMPLES = int(os.environ.get("SEGSCOPE_API_FUZZ_EXAMPLES", "6"))
API_FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
# A fixed CSRF secret, sent as the cookie and the header Django compares it with.
CSRF = "f" * 32
# Refusals that document a write: a snapshot that cannot be parsed is kept for inspection
# (docs/ingest.md).
DOCUMENTED_WRITES = {("POST", "/api/ingest/snapshots/", 422): {"rules_rejectedupload": 1}}


def operations() -> list[tuple[str, str]]:
    """Every (method, path) the schema documents, read from the same generator the server uses."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted((method.upper(), path) for path, item in schema["paths"].items()
                  for method in item)


@pytest.fixture(scope="module")
def asgi_server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[LiveServer]:
    """uvicorn serving webapp.asgi on the test database, for the module."""
    if connection.vendor != "postgresql":
        pytest.skip("the server process shares the test database over PostgreSQL")
    # A file, not a pipe: nobody reads a pipe once the server is up, and a full one (a warning
    # per refused request) would block the server in the middle of a request.
    with (tmp_path_factory.mktemp("uvicorn") / "server.log").open("wb") as log:
        server = start_uvicorn(output=log)
        try:
            yield server
        finally:
            stop(server.process)


@pytest.fixture
def credentials(asgi_server: LiveServer, django_user_model: Any,
                node_02_with_a_drop: Any) -> dict[str, dict[str, dict[str, str]]]:
    """An admin's browser session (cookies and the CSRF header) and node-02's agent token."""
    from webapp.inventory.models import AgentToken

    admin = django_user_model.objects.create_superuser("ada", "ada@example.net", "ada-password")
    client = Client()
    client.force_login(admin)
    _, plaintext = AgentToken.issue(node_02_with_a_drop)
    return {
        "browser": {"cookies": {"sessionid": client.cookies["sessionid"].value,
                                "csrftoken": CSRF},
                    "headers": {"X-CSRFToken": CSRF}},
        "agent": {"cookies": {}, "headers": {"Authorization": f"Token {plaintext}"}},
    }


@pytest.fixture(scope="module")
def served_schemas() -> dict[str, Any]:
    """The schema once fetched, for the rest of the module: the server's code does not change."""
    return {}


@pytest.fixture
def live_schema(asgi_server: LiveServer, credentials: dict[str, dict[str, dict[str, str]]],
                served_schemas: dict[str, Any]) -> Any:
    """The OpenAPI schema as the running server serves it."""
    if "schema" not in served_schemas:
        served_schemas["schema"] = schemathesis.openapi.from_url(
            f"{asgi_server.url}/api/schema/?format=json",
            cookies=credentials["browser"]["cookies"])
    return served_schemas["schema"]


def own_host(case: Any, own: bool) -> Any:
    if own and isinstance(case.body, dict):
        case.body = {**case.body, "host": "node-02"}
    return case


def row_counts() -> dict[str, int]:
    """Rows of every model table (many-to-many tables included), in one query."""
    tables = sorted({model._meta.db_table for model in apps.get_models(include_auto_created=True)})
    quote = connection.ops.quote_name
    sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {quote(t)})" for t in tables)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return dict(zip(tables, cursor.fetchone(), strict=True))


@pytest.mark.parametrize(("method", "path"), operations())
def test_every_operation_answers_as_documented_and_a_refusal_writes_nothing(
        method: str, path: str, asgi_server: LiveServer, live_schema: Any,
        credentials: dict[str, dict[str, dict[str, str]]]) -> None:
    operation = live_schema[path][method]
    agent = any("agentToken" in entry for entry in operation.definition.raw.get("security", []))
    fixed = credentials["agent" if agent else "browser"]
    strategy = st.one_of(*(operation.as_strategy(mode, **fixed) for mode in GenerationMode))
    if agent:  # half of the bodies name the token's own host, so that ingest reads the rest
        strategy = st.tuples(strategy, st.booleans()).map(lambda pair: own_host(*pair))

    @API_FUZZ
    @given(case=strategy)
    def answers_as_documented(case: Any) -> None:
        # Host names the server, not an input of the API: Django refuses one outside
        # ALLOWED_HOSTS before any view runs, as a proxy in front of it would.
        case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "host"}
        before = row_counts()
        with requests.Session() as session:  # closed: no idle connection delays shutdown
            # Far above any answer's time, so that only a hung request fails on a busy machine.
            response = case.call(base_url=asgi_server.url, session=session, timeout=120)
        case.validate_response(response, checks=CHECKS)
        if 400 <= response.status_code < 500:
            after = row_counts()
            written = {table: after[table] - before[table] for table in after
                       if after[table] != before[table]}
            allowed = DOCUMENTED_WRITES.get((method, path, response.status_code), {})
            assert written == allowed, f"{response.status_code} {response.text[:300]}"

    answers_as_documented()
