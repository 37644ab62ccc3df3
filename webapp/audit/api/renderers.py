"""The audit log as CSV (`?format=csv`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rest_framework.renderers import BaseRenderer

from webapp.engine.audit.tables import render_csv

COLUMNS = ("id", "at", "user", "action", "details")


class AuditEventCSVRenderer(BaseRenderer):
    """Events, one line each; details as compact JSON; formula-like cells quoted."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None,
               renderer_context: Mapping[str, Any] | None = None) -> bytes:
        if isinstance(data, Mapping):  # an error answer, or a page
            data = data.get("results", [data])
        rows = [{**row, "details": json.dumps(row.get("details"), sort_keys=True)}
                if isinstance(row, Mapping) and "details" in row else row for row in data]
        columns = COLUMNS if all("action" in r for r in rows) else tuple(
            sorted({k for r in rows for k in r}))
        return render_csv(columns, rows)
