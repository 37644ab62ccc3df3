"""Every route refuses whoever lacks its role: anonymous callers everywhere but the health
check, the login pages and agent ingest (which wants a token); viewers on every write (except
questions that change nothing) and on exports; operators on exports; auditors on operators'
writes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from webapp.api.permissions import AGENT, ROLES, required_role, roles_of

pytestmark = pytest.mark.django_db

WRITES = ("post", "put", "patch", "delete")
# Routes open to everyone, by name.
PUBLIC = {"healthz", "login", "logout"}
# Viewer-level POSTs: questions about the fleet that change nothing.
VIEWER_QUESTIONS = {"api:explain", "api:fix", "api:service-matrix", "ui:explain",
                    "ui:service-matrix"}
# Pages whose form posts need more than reading them (the page checks it on POST).
PAGE_WRITE_ROLES = {"ui:whatif": "operator"}
SAMPLE = {"pk": "1", "name": "node-01"}


@dataclass(frozen=True, slots=True)
class Route:
    """One method of one named route, and the role it needs."""

    name: str
    url: str
    method: str
    role: str | None

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.url} ({self.role})"


def _patterns(patterns: list[Any], namespace: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                continue  # Django's admin: staff only, its own login (checked below)
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _patterns(pattern.url_patterns, inner)
        elif pattern.name:
            yield f"{namespace}{pattern.name}", pattern


def _methods(callback: Any) -> dict[str, Any]:
    """Method -> the view instance that answers it, as DRF or Django would set it up."""
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is None:
        return {"get": None}
    actions = getattr(callback, "actions", None)
    if actions:
        out = {}
        for method, action in actions.items():
            view = cls(**getattr(callback, "initkwargs", {}))
            view.action = action
            out[method] = view
        return out
    return {m: cls() for m in ("get", "post", "put", "patch", "delete") if hasattr(cls, m)}


def _role(view: Any, method: str) -> str | None:
    if view is None:
        return None
    if hasattr(view, "get_permissions"):
        return required_role(view, method.upper())
    if any(c.__name__ == "LoginRequiredMixin" for c in type(view).__mro__):
        return str(getattr(view, "required_role", "viewer"))
    return None


def routes() -> list[Route]:
    found = []
    for name, pattern in _patterns(get_resolver().url_patterns):
        groups = set(pattern.pattern.regex.groupindex)
        if "format" in groups:
            continue  # the same views again with a `.json` suffix
        url = reverse(name, kwargs={k: SAMPLE.get(k, "1") for k in groups})
        for method, view in _methods(pattern.callback).items():
            role = _role(view, method)
            if method in WRITES and name in PAGE_WRITE_ROLES:
                role = PAGE_WRITE_ROLES[name]
            found.append(Route(name, url, method, role))
    return sorted(found, key=lambda r: (r.url, r.method))


ROUTES = routes()


def _refused(response: Any) -> bool:
    if response.status_code in (401, 403):
        return True
    return response.status_code == 302 and "/login/" in response.get("Location", "")


def _call(client: Client, route: Route) -> Any:
    return getattr(client, route.method)(route.url, content_type="application/json") \
        if route.method in WRITES else client.get(route.url)


def test_every_route_states_its_role() -> None:
    unstated = [str(r) for r in ROUTES if r.role is None and r.name not in PUBLIC]

    assert unstated == []
    assert {r.name for r in ROUTES if r.role == "auditor"} >= {"api:audit-export",
                                                              "api:auditevent-list"}


def test_viewers_write_only_where_a_question_changes_nothing() -> None:
    viewer_writes = {r.name for r in ROUTES if r.method in WRITES and r.role == "viewer"}

    assert viewer_writes <= VIEWER_QUESTIONS


@pytest.mark.parametrize("route", [r for r in ROUTES if r.name not in PUBLIC], ids=str)
def test_anonymous_callers_are_refused(route: Route) -> None:
    assert _refused(_call(Client(), route))


@pytest.mark.parametrize("route", [r for r in ROUTES if r.role not in (None, AGENT, "viewer")],
                         ids=str)
def test_a_viewer_is_refused_what_needs_more(route: Route, alice: AbstractBaseUser) -> None:
    client = Client()
    client.force_login(alice)

    assert _refused(_call(client, route))


@pytest.mark.parametrize("route", [r for r in ROUTES if r.role in ("auditor", "admin")],
                         ids=str)
def test_an_operator_is_refused_exports_and_the_audit_log(route: Route,
                                                          oscar_client: Client) -> None:
    assert _refused(_call(oscar_client, route))


@pytest.mark.parametrize("route", [r for r in ROUTES if r.role in ("operator", "admin")],
                         ids=str)
def test_an_auditor_is_refused_operators_changes(route: Route, audrey_client: Client) -> None:
    assert _refused(_call(audrey_client, route))


@pytest.mark.parametrize("route", [r for r in ROUTES if r.role == AGENT], ids=str)
def test_a_login_is_no_agent_token(route: Route, ada_client: Client) -> None:
    assert _refused(_call(ada_client, route))


@pytest.mark.parametrize("route", [r for r in ROUTES if r.role in ROLES and r.method == "get"],
                         ids=str)
def test_an_admin_is_refused_nothing(route: Route, ada_client: Client) -> None:
    assert not _refused(_call(ada_client, route))


def test_the_admin_site_sends_anonymous_callers_to_its_login() -> None:
    response = Client().get("/admin/")

    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_groups_give_their_roles(alice: AbstractBaseUser, oscar: AbstractBaseUser,
                                 audrey: AbstractBaseUser, ada: AbstractBaseUser,
                                 django_user_model: Any) -> None:
    boss = django_user_model.objects.create_superuser("boss", password="boss-password")

    assert roles_of(alice) == {"viewer"}
    assert roles_of(oscar) == {"viewer", "operator"}
    assert roles_of(audrey) == {"viewer", "auditor"}
    assert roles_of(ada) == roles_of(boss) == set(ROLES)


def test_the_schema_states_each_operations_role(client_logged_in: Client) -> None:
    schema = client_logged_in.get("/api/schema/", {"format": "json"}).json()

    export = schema["paths"]["/api/audit-export/"]["get"]["description"]
    hosts = schema["paths"]["/api/hosts/"]["get"]["description"]
    ingest = schema["paths"]["/api/ingest/snapshots/"]["post"]["description"]
    assert export.endswith("Role: auditor (the `auditor` group, or an admin).")
    assert hosts.endswith("Role: viewer (any logged-in user).")
    assert "agent token" in ingest
    assert all("Role:" in op["description"] or "agent token" in op["description"]
               for path in schema["paths"].values() for op in path.values())
