"""The lists of the detail pages (segment, workload, host, cost): each filtered by a text
query and paged through URL parameters named after it, and exported whole as CSV or JSON."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Page, Paginator
from django.http import HttpResponse, QueryDict

from webapp.engine.audit.tables import cell

PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class Column:
    """A column: its key in the rows, its heading, and the row key holding its link."""

    key: str
    label: str
    link: str | None = None
    numeric: bool = False


@dataclass(slots=True)
class Section:
    """One list of a page. Rows are flat dicts; `rows` is called only when the list is shown
    or exported."""

    key: str
    title: str
    columns: Sequence[Column]
    rows: Callable[[], Iterable[Mapping[str, Any]]]
    empty: str = "Nothing to list."
    page_size: int = PAGE_SIZE
    anchor: Callable[[Mapping[str, Any]], str] | None = None  # a row's HTML id
    # Set by `show`:
    query: str = ""
    page: Page | None = None
    total: int = 0
    links: dict[str, str] = field(default_factory=dict)
    hidden: list[tuple[str, str]] = field(default_factory=list)

    def matching(self, query: str) -> list[Mapping[str, Any]]:
        """Rows with `query` in any shown cell, case-insensitively; every word must occur."""
        rows = list(self.rows())
        words = query.lower().split()
        if not words:
            return rows
        keys = [c.key for c in self.columns]
        out = []
        for row in rows:
            text = " ".join(str(row.get(k, "")) for k in keys).lower()
            if all(word in text for word in words):
                out.append(row)
        return out

    def show(self, params: QueryDict) -> Section:
        """Filter and page the rows from the URL, and the links to export and page them."""
        self.query = params.get(f"{self.key}_q", "").strip()
        rows = self.matching(self.query)
        self.total = len(rows)
        self.page = Paginator(rows, self.page_size).get_page(params.get(f"{self.key}_page"))
        skip = (f"{self.key}_page", "export", "format", "partial")
        keep: list[tuple[str, str]] = [(k, str(v)) for k, v in params.items() if k not in skip]
        # The filter form resends every other list's filter and page.
        self.hidden = [(k, v) for k, v in keep if k != f"{self.key}_q"]
        for name, extra in (("csv", {"export": self.key, "format": "csv"}),
                            ("json", {"export": self.key, "format": "json"})):
            self.links[name] = "?" + urlencode([(k, v) for k, v in keep
                                                if k.startswith(f"{self.key}_")]
                                               + list(extra.items()))
        if self.page.has_previous():
            self.links["previous"] = "?" + urlencode(
                [*keep, (f"{self.key}_page", str(self.page.previous_page_number()))])
        if self.page.has_next():
            self.links["next"] = "?" + urlencode(
                [*keep, (f"{self.key}_page", str(self.page.next_page_number()))])
        return self

    @property
    def cells(self) -> list[dict[str, Any]]:
        """The page's rows as the template draws them: cells in column order with links."""
        assert self.page is not None
        out = []
        for row in self.page.object_list:
            out.append({
                "id": self.anchor(row) if self.anchor is not None else "",
                "cells": [{"text": _text(row.get(c.key)),
                           "href": row.get(c.link) if c.link else None,
                           "numeric": c.numeric} for c in self.columns]})
        return out

    def export(self, params: QueryDict, fmt: str) -> HttpResponse:
        """Every row the section's filter keeps, as CSV (formula-safe cells) or JSON."""
        rows = self.matching(params.get(f"{self.key}_q", "").strip())
        keys = [c.key for c in self.columns]
        if fmt == "json":
            body = json.dumps({"count": len(rows),
                               "results": [{k: row.get(k) for k in keys} for row in rows]},
                              default=str)  # cells computed on use give their text
            return HttpResponse(body, content_type="application/json")
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{self.key}.csv"'
        writer = csv.writer(response)
        writer.writerow(keys)
        # Cells a spreadsheet would run as formulas get a leading apostrophe, as in the audit
        # export.
        writer.writerows([cell(row.get(k)) for k in keys] for row in rows)
        return response


def moment_text(moment: Any) -> str:
    """A time as the lists show it: ISO 8601 UTC to the second, empty when unknown."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return str(value)


def exported(sections: Sequence[Section], params: QueryDict) -> HttpResponse | None:
    """The export the URL asks for (`?export=KEY&format=csv|json`), if it asks for one."""
    key = params.get("export")
    if not key:
        return None
    fmt = params.get("format", "csv")
    for section in sections:
        if section.key == key and fmt in ("csv", "json"):
            return section.export(params, fmt)
    return HttpResponse(f"no list {key!r} to export as {fmt!r}", status=404,
                        content_type="text/plain; charset=utf-8")
