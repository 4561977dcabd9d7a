"""Writing many rows of one table in the fewest, cheapest statements each database offers.

Recording a large send is mostly inserting recipient rows. Building model
instances and binding thousands of placeholders costs more than the database's
own work, so rows go in as plain tuples: ``COPY`` on PostgreSQL with psycopg 3,
one prepared statement run for every row on SQLite, and multi-row ``INSERT``
statements elsewhere. ``COPY`` appears in Django's query log (and so in
``assertNumQueries``) but not to ``connection.execute_wrapper()`` hooks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from django.db import connections, router
from django.db.models import Model


def insert_rows(model: type[Model], names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows`` (values ready for the database, in the order of field ``names``).

    Runs in the caller's transaction, if any; database errors arrive as
    Django's exceptions. Each write is one entry in the query log.
    """
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    opts = model._meta
    fields = [opts.get_field(name) for name in names]
    quote = connection.ops.quote_name
    table = quote(opts.db_table)
    columns = ", ".join(quote(str(f.column)) for f in fields)  # type: ignore[union-attr]
    strategy = _strategy(connection)
    if strategy == "copy":
        _copy(connection, f"COPY {table} ({columns}) FROM STDIN", rows)
        return
    placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    # Only identifiers from the model's own metadata are formatted in.
    sql = f"INSERT INTO {table} ({columns}) VALUES "  # noqa: S608
    with connection.cursor() as cursor:
        if strategy == "executemany":
            cursor.executemany(sql + placeholder, rows)
            return
        per_statement = max(1, connection.ops.bulk_batch_size(fields, rows))
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            cursor.execute(
                sql + ", ".join([placeholder] * len(chunk)),
                [value for row in chunk for value in row],
            )


def _strategy(connection: Any) -> str:
    """``copy``, ``executemany`` or ``values`` (multi-row statements)."""
    if connection.vendor == "sqlite":
        return "executemany"
    if connection.vendor == "postgresql":
        from django.db.backends.postgresql.psycopg_any import is_psycopg3

        if is_psycopg3:
            return "copy"
    return "values"


def _copy(connection: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """``COPY … FROM STDIN`` through psycopg 3, logged like any other query."""
    start = time.monotonic()
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(sql) as copy,
    ):
        for row in rows:
            copy.write_row(row)
    if connection.queries_logged:
        connection.queries_log.append(
            {"sql": f"{sql} -- {len(rows)} rows", "time": f"{time.monotonic() - start:.3f}"}
        )
