"""Every inventory, rules and flows endpoint is in the OpenAPI schema, generated without
warnings so that the docs page shows real request and response bodies."""

from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

ENDPOINTS = {
    "/api/hosts/", "/api/workloads/", "/api/segments/", "/api/segments/{id}/members/",
    "/api/snapshots/", "/api/snapshots/{id}/", "/api/snapshots/{id}/diff/",
    "/api/snapshots/{id}/raw/", "/api/rules/", "/api/sets/", "/api/rejected-uploads/",
    "/api/flows/", "/api/inventory/", "/api/ingest/snapshots/", "/api/ingest/heartbeat/",
    "/api/ingest/flows/",
}


def test_the_schema_has_every_endpoint_and_no_warnings(tmp_path: Path) -> None:
    out = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))

    schema = yaml.safe_load(out.read_text())
    assert ENDPOINTS <= set(schema["paths"])


@pytest.mark.parametrize(("path", "codes"), [
    ("/api/ingest/snapshots/", {"200", "201", "400", "401", "403", "413", "422", "429"}),
    ("/api/ingest/flows/", {"202", "400", "401", "403", "413", "422", "429"}),
    ("/api/ingest/heartbeat/", {"200", "400", "401", "403", "413", "429"}),
])
def test_ingest_endpoints_document_every_answer(tmp_path: Path, path: str,
                                                codes: set[str]) -> None:
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out))

    post = yaml.safe_load(out.read_text())["paths"][path]["post"]

    assert set(post["responses"]) == codes
    assert post["security"] == [{"agentToken": []}]
