"""Bulk insertion of many rows (flow records, a snapshot's rules): PostgreSQL COPY where the
database is PostgreSQL, batched INSERTs elsewhere."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import connections, models, router

from collectors.flowlogs.parsing import collector_paused

BATCH = 5000


class JsonText(str):
    """A JSON column's value already written as JSON text (by a caller that composes many
    rows' values from shared parts)."""


class RowWriter:
    """Writes rows (values in the order of its fields) into one table, as they come."""

    def __init__(self, write: Any) -> None:
        self._write = write
        self.count = 0

    def write(self, rows: Iterable[Sequence[Any]]) -> int:
        """Write rows; returns how many."""
        written = self._write(rows)
        self.count += written
        return written


@contextmanager
def row_writer(model: type[models.Model], fields: Sequence[str]) -> Iterator[RowWriter]:
    """A RowWriter into model's table for as long as the block runs, in the caller's
    transaction; no model instances, signals or returned ids. Values are ints, texts,
    booleans, None, datetimes or `timestamp_text` of a datetime, and what JSON columns hold.
    On PostgreSQL the rows of the whole block form one COPY, which the database stores while
    the caller goes on."""
    alias = router.db_for_write(model)
    connection = connections[alias]
    columns = [_field(model, name) for name in fields]
    if connection.vendor != "postgresql":
        yield RowWriter(lambda rows: _insert(model, alias, columns, rows))
        return
    quote = connection.ops.quote_name
    names = ", ".join(quote(str(column.column)) for column in columns)
    connection.ensure_connection()
    json_columns = [i for i, column in enumerate(columns)
                    if isinstance(column, models.JSONField)]
    with connection.cursor() as cursor, cursor.copy(
            f"COPY {quote(model._meta.db_table)} ({names}) FROM STDIN") as copy:
        # psycopg formats and escapes each row in C and sends them in large blocks.
        write_row = copy.write_row if not json_columns else _with_json(copy.write_row,
                                                                       json_columns)
        yield RowWriter(lambda rows: _copy_rows(write_row, rows))


def _with_json(write_row: Any, positions: list[int]) -> Any:
    """`write_row` with the values at `positions` sent as JSON text. Rows often share a value
    object (the same evidence on many edges): each object is written out once."""
    written: dict[int, tuple[Any, str]] = {}  # id -> (the object, kept so the id stays its)

    def write(row: Sequence[Any]) -> None:
        values = list(row)
        for i in positions:
            value = values[i]
            if value is not None and not isinstance(value, JsonText):
                found = written.get(id(value))
                if found is None:
                    found = written[id(value)] = (value, json.dumps(value))
                values[i] = found[1]
        write_row(values)
    return write


def insert_rows(model: type[models.Model], fields: Sequence[str],
                rows: Iterable[Sequence[Any]]) -> int:
    """Insert rows (values in `fields` order) into model's table; returns how many."""
    with row_writer(model, fields) as writer:
        return writer.write(rows)


def timestamp_text(moment: datetime) -> str:
    """A datetime as the text a timestamp column takes. Callers writing many rows that share a
    few moments render each once: formatting a datetime costs more than the rest of its row."""
    return moment.isoformat()


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.concrete:
        raise ValueError(f"{model.__name__}.{name} is not a column")
    return field


def _copy_rows(write_row: Any, rows: Iterable[Sequence[Any]]) -> int:
    count = 0
    with collector_paused():
        for row in rows:
            write_row(row)
            count += 1
    return count


def _insert(model: type[models.Model], alias: str, columns: Sequence[models.Field[Any, Any]],
            rows: Iterable[Sequence[Any]]) -> int:
    attnames = [column.attname for column in columns]
    manager = model._default_manager.using(alias)
    count = 0
    batch: list[models.Model] = []
    for row in rows:
        values = [json.loads(v) if isinstance(v, JsonText) else v for v in row]
        batch.append(model(**dict(zip(attnames, values, strict=True))))
        if len(batch) >= BATCH:
            manager.bulk_create(batch)
            count += len(batch)
            batch = []
    manager.bulk_create(batch)
    return count + len(batch)
