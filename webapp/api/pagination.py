"""Pagination shared by every API list."""

from typing import Any

from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response


class StandardPagination(PageNumberPagination):
    """Page-number pagination whose page size a client may lower or raise to a bound."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class EntriesPagination(StandardPagination):
    """Pages whose entries sit under the contract's key (`edges`, `findings`, `generations`)
    rather than `results`, so that one page reads like the offline CLI's JSON."""

    entries_key = "results"

    def get_paginated_response(self, data: Any) -> Response:
        assert self.page is not None
        return Response({"count": self.page.paginator.count, "next": self.get_next_link(),
                         "previous": self.get_previous_link(), self.entries_key: data})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        wrapped = super().get_paginated_response_schema(schema)
        properties = wrapped["properties"]
        properties[self.entries_key] = properties.pop("results")
        wrapped["required"] = ["count", self.entries_key]
        return wrapped


def entries_pagination(key: str) -> type[EntriesPagination]:
    """A pagination class putting a page's entries under `key`."""
    return type(f"{key.title()}Pagination", (EntriesPagination,), {"entries_key": key})
