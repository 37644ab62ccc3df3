"""Bulk insertion of many rows: PostgreSQL COPY where the database is PostgreSQL, batched
INSERTs elsewhere."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connections, models, router

BATCH = 5000


def insert_rows(model: type[models.Model], fields: Sequence[str],
                rows: Iterable[Sequence[Any]]) -> int:
    """Insert rows (values in `fields` order) into model's table; returns how many. Runs in the
    caller's transaction; no model instances, signals or returned ids."""
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor == "postgresql":
        return _copy(connection, model, fields, rows)
    attnames = [_field(model, name).attname for name in fields]
    count = 0
    batch: list[models.Model] = []
    for row in rows:
        batch.append(model(**dict(zip(attnames, row, strict=True))))
        if len(batch) >= BATCH:
            model._default_manager.using(alias).bulk_create(batch)
            count += len(batch)
            batch = []
    model._default_manager.using(alias).bulk_create(batch)
    return count + len(batch)


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.concrete:
        raise ValueError(f"{model.__name__}.{name} is not a column")
    return field


def _copy(connection: Any, model: type[models.Model], fields: Sequence[str],
          rows: Iterable[Sequence[Any]]) -> int:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(_field(model, name).column) for name in fields)
    sql = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
    count = 0
    connection.ensure_connection()
    # Rows go out as COPY text written in large blocks: formatting them here costs a fraction
    # of handing psycopg one row at a time.
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        block: list[str] = []
        for row in rows:
            # str() in C for every value, and one look at the row's texts together: only a row
            # whose text holds a tab, newline, carriage return or backslash is escaped value
            # by value.
            if _NEEDS_ESCAPE("".join([v for v in row if v.__class__ is str])):
                line = "\t".join([_copy_text(value) for value in row])
            else:
                line = "\t".join(map(str, [_NULL if v is None else v for v in row]))
            block.append(line)
            count += 1
            if len(block) >= BATCH:
                copy.write("\n".join(block) + "\n")
                block = []
        if block:
            copy.write("\n".join(block) + "\n")
    return count


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]").search


class _Null:
    """NULL in COPY text."""

    def __str__(self) -> str:
        return "\\N"


_NULL = _Null()


def _copy_text(value: Any) -> str:
    """One value in PostgreSQL's COPY text format (ints, texts, times, booleans, NULL)."""
    if value.__class__ is str:
        return value.translate(_ESCAPES) if _NEEDS_ESCAPE(value) else value
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).translate(_ESCAPES)
