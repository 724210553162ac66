"""Set-based writes of many rows in one statement with a fixed text.

``INSERT ... SELECT FROM unnest(array, array, ...)`` and ``UPDATE ... FROM unnest(...)`` send
one statement per batch whatever its size: the server plans it once per connection and the
driver caches it, where a multi-row VALUES list is a new statement for every batch size.

A batch of one row (a single ``POST /claims`` in a quiet moment) is sent as plain parameters
instead, ``VALUES (%(a)b::bigint, ...)``: psycopg dumps a scalar with a cached C dumper, where
every array parameter costs a walk of its element types in Python whatever its length. The
statement text is still fixed per column set, and the casts are the arrays' element types,
so both shapes store the same values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import Enum
from functools import lru_cache
from typing import Any

import orjson
import psycopg
import sqlalchemy as sa
from psycopg import pq
from psycopg.rows import namedtuple_row
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import InstrumentedAttribute

from storage.unit_of_work import PlanJourneyContext


def _array_type(column: sa.Column[Any]) -> str:
    kind = column.type
    if isinstance(kind, JSONB):
        return "text"  # sent as text, cast per element below
    if isinstance(kind, UUID):
        return "uuid"
    if isinstance(kind, sa.BigInteger):
        return "bigint"
    if isinstance(kind, sa.SmallInteger):
        return "smallint"
    if isinstance(kind, sa.Integer):
        return "integer"
    if isinstance(kind, sa.Numeric):
        return "numeric"
    if isinstance(kind, sa.DateTime):
        return "timestamptz"
    if isinstance(kind, sa.Date):
        return "date"
    if isinstance(kind, sa.Boolean):
        return "boolean"
    return "text"


def _select_expression(column: sa.Column[Any], source: str | None = None) -> str:
    """The value of ``column`` as the statement stores it: from the unnest alias ``v``, or
    from ``source`` (a parameter already cast to the column's array element type)."""
    value = source or f"v.{column.name}"
    if isinstance(column.type, JSONB):
        return f"{value}::jsonb"
    if isinstance(column.type, sa.Enum | sa.String):
        return f"{value}::varchar"
    return value


def _arrays(columns: Sequence[sa.Column[Any]]) -> str:
    """The columns' values as binary array parameters, for ``unnest``."""
    return ", ".join(f"%({c.name})b::{_array_type(c)}[]" for c in columns)


def _parameter(column: sa.Column[Any]) -> str:
    """One row's value of ``column`` as a binary parameter, cast as its array would be."""
    return _select_expression(column, f"%({column.name})b::{_array_type(column)}")


def _column_array(is_json: bool, name: str, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """One column of ``rows`` as the array the statement binds, converted once per column."""
    values = [row[name] for row in rows]
    # The set of types is built in C: a batch of plain values costs no Python per value.
    if is_json or any(issubclass(kind, Enum) for kind in set(map(type, values))):
        return [_value(is_json, value) for value in values]
    return values


def _value(is_json: bool, value: Any) -> Any:
    """A value as the statement binds it: JSONB as its text, an enum as its value."""
    if value is None:
        return None
    if is_json:
        return _json_text(value)
    return value.value if isinstance(value, Enum) else value


@lru_cache(maxsize=128)
def _json_flags(table: sa.Table, columns: tuple[str, ...]) -> tuple[bool, ...]:
    """Which of ``columns`` are JSONB, looked up once per column set, not once per value."""
    return tuple(isinstance(table.c[name].type, JSONB) for name in columns)


def _json_text(value: Any) -> str:
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()


def _json_default(value: Any) -> Any:
    return str(value)  # Decimal (money) as its exact digits


def in_array(
    column: sa.ColumnElement[Any] | InstrumentedAttribute[Any], values: Iterable[Any]
) -> sa.ColumnElement[bool]:
    """``column = ANY(:array)``: one statement text whatever the number of values."""
    element = column.expression if isinstance(column, InstrumentedAttribute) else column
    return element == sa.any_(sa.bindparam(None, list(values), type_=ARRAY(element.type)))


@lru_cache(maxsize=64)
def _insert_sql(
    table: sa.Table,
    columns: tuple[str, ...],
    on_conflict_do_nothing: bool,
    returning: str | None,
    upsert_on: tuple[str, ...] | None = None,
    one_row: bool = False,
) -> str:
    cols = [table.c[name] for name in columns]
    # Identifiers come from the table metadata, never from input; values are parameters.
    sql = f"INSERT INTO {table.schema}.{table.name} ({', '.join(columns)}) "
    if one_row:
        sql += f"VALUES ({', '.join(_parameter(c) for c in cols)})"
    else:
        arrays = _arrays(cols)
        sql += (
            f"SELECT {', '.join(_select_expression(c) for c in cols)} "  # noqa: S608
            f"FROM unnest({arrays}) AS v({', '.join(columns)})"
        )
    if on_conflict_do_nothing:
        sql += " ON CONFLICT DO NOTHING"
    if upsert_on:
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in upsert_on)
        sql += f" ON CONFLICT ({', '.join(upsert_on)}) DO UPDATE SET {updates}"
    if returning:
        sql += f" RETURNING {returning}"
    return sql


def insert_rows(
    ctx: PlanJourneyContext,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    on_conflict_do_nothing: bool = False,
    returning: str | None = None,
    upsert_on: tuple[str, ...] | None = None,
) -> list[Any]:
    """Insert ``rows`` (dicts with the same keys) in one statement; return RETURNING rows.

    ``upsert_on`` names a unique key: a row that exists already is updated instead.
    """
    if not rows:
        return []
    columns = tuple(rows[0].keys())
    one_row = len(rows) == 1
    parameters = _parameters(table, columns, rows)
    with _raw_cursor(ctx) as cursor:
        cursor.execute(
            _insert_sql(table, columns, on_conflict_do_nothing, returning, upsert_on, one_row),
            parameters,
            binary=True,
        )
        return cursor.fetchall() if returning else []


def _parameters(
    table: sa.Table, columns: tuple[str, ...], rows: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Each column's values as one array, or as one value when there is one row."""
    flags = zip(columns, _json_flags(table, columns), strict=True)
    if len(rows) == 1:
        row = rows[0]
        return {name: _value(is_json, row[name]) for name, is_json in flags}
    return {name: _column_array(is_json, name, rows) for name, is_json in flags}


def select_by_keys(
    ctx: PlanJourneyContext,
    table: sa.Table,
    keys: Sequence[tuple[Any, ...]],
    key_columns: tuple[str, ...],
    columns: tuple[str, ...],
    *,
    lock: bool = False,
) -> Callable[[], list[Any]]:
    """Rows whose ``key_columns`` equal one of ``keys``: a join with unnest(), not tuple IN.
    The query is sent now and its rows read when the result is called (see ``read_later``)."""
    if not keys:
        return list
    one_key = len(keys) == 1
    return read_later(
        ctx,
        _select_by_keys_sql(table, key_columns, columns, lock, one_key),
        {
            name: keys[0][i] if one_key else [key[i] for key in keys]
            for i, name in enumerate(key_columns)
        },
    )


def read_later(
    ctx: PlanJourneyContext, sql: str, parameters: Mapping[str, Any]
) -> Callable[[], list[Any]]:
    """Send a query now and read its rows when called. Inside ``pipelined``, the queries sent
    before the first is read travel together: one round trip for all of them."""
    cursor = _raw_cursor(ctx)
    cursor.execute(sql, parameters, binary=True)

    def rows() -> list[Any]:
        with cursor:
            return cursor.fetchall()

    return rows


@lru_cache(maxsize=64)
def _select_by_keys_sql(
    table: sa.Table,
    key_columns: tuple[str, ...],
    columns: tuple[str, ...],
    lock: bool,
    one_key: bool = False,
) -> str:
    keys = [table.c[name] for name in key_columns]
    selected = ", ".join("t." + c for c in columns)
    sql = f"SELECT {selected} FROM {table.schema}.{table.name} AS t "  # noqa: S608
    if one_key:
        sql += "WHERE " + " AND ".join(f"t.{c.name} = {_parameter(c)}" for c in keys)
    else:
        joined = " AND ".join(f"t.{name} = k.{name}" for name in key_columns)
        sql += f"JOIN unnest({_arrays(keys)}) AS k({', '.join(key_columns)}) ON {joined}"
    sql += f" ORDER BY {', '.join('t.' + c for c in key_columns)}"
    return sql + " FOR UPDATE OF t" if lock else sql


@lru_cache(maxsize=64)
def _update_sql(
    table: sa.Table, key: str, columns: tuple[str, ...], touch: str | None, one_row: bool = False
) -> str:
    every = (key, *columns)
    assignments = [
        f"{name} = {_parameter(table.c[name]) if one_row else _select_expression(table.c[name])}"
        for name in columns
    ]
    if touch:
        assignments.append(f"{touch} = now()")
    sql = f"UPDATE {table.schema}.{table.name} AS t SET {', '.join(assignments)} "  # noqa: S608
    if one_row:
        return sql + f"WHERE t.{key} = {_parameter(table.c[key])}"
    arrays = _arrays([table.c[name] for name in every])
    return sql + f"FROM unnest({arrays}) AS v({', '.join(every)}) WHERE t.{key} = v.{key}"


def update_rows(
    ctx: PlanJourneyContext,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str = "id",
    touch: str | None = "updated_at",
) -> int:
    """Update many rows by ``key`` in one statement; every dict carries the same keys."""
    if not rows:
        return 0
    columns = tuple(name for name in rows[0] if name != key)
    parameters = _parameters(table, (key, *columns), rows)
    with _raw_cursor(ctx) as cursor:
        cursor.execute(
            _update_sql(table, key, columns, touch, one_row=len(rows) == 1),
            parameters,
            binary=True,
        )
        return int(cursor.rowcount)


@contextmanager
def pipelined(ctx: PlanJourneyContext) -> Iterator[None]:
    """Send the statements inside without waiting for each answer: one round trip, not
    several. A result read inside the block (``read_later``) waits for every statement sent
    before it, not for those sent after. Inside another such block, the statements join it:
    a nested psycopg pipeline would cost a round trip on entry and another on exit.
    Statements through SQLAlchemy stay outside: it asks for a result's columns as soon as the
    statement is sent, before the server has answered, and finds none.
    """
    connection = ctx.driver_connection
    if connection.pgconn.pipeline_status != pq.PipelineStatus.OFF:
        yield
        return
    with connection.pipeline():
        yield


def _raw_cursor(ctx: PlanJourneyContext) -> psycopg.Cursor[Any]:
    # Binary parameters: arrays go over the wire without text escaping, the dominant cost
    # of large batches in text format. Same connection, same transaction as the context.
    return ctx.driver_connection.cursor(row_factory=namedtuple_row)
