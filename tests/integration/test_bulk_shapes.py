"""storage.bulk stores the same values whether a batch holds one row or many.

A batch of one row is sent as plain parameters (``VALUES (%(a)b::bigint, ...)``), a larger one
as arrays through ``unnest``: every column type the service writes (bigint, smallint, integer,
uuid, text, a string enum, numeric money, date, timestamptz, boolean, JSONB and NULLs) is read
back unchanged from both shapes, by insert, upsert, select by keys and update. Reads sent
together in a pipeline each get their own rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from storage.bulk import (
    insert_rows,
    pipelined,
    read_later,
    select_by_keys,
    update_rows,
)
from storage.unit_of_work import PlanJourneyContext
from tests.support.harness import Harness


class Colour(StrEnum):
    RED = "red"
    GREEN = "green"


metadata = sa.MetaData(schema="plan")
samples = sa.Table(
    "bulk_samples",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("small", sa.SmallInteger),
    sa.Column("count", sa.Integer),
    sa.Column("ref", UUID(as_uuid=True)),
    sa.Column("label", sa.String(40)),
    sa.Column(
        "colour",
        sa.Enum(
            Colour, native_enum=False, length=8, values_callable=lambda e: [m.value for m in e]
        ),
    ),
    sa.Column("amount", sa.Numeric(12, 2)),
    sa.Column("day", sa.Date),
    sa.Column("at", sa.DateTime(timezone=True)),
    sa.Column("flag", sa.Boolean),
    sa.Column("doc", JSONB(none_as_null=True)),
)
COLUMNS = [column.name for column in samples.columns]


def row(n: int, *, nulls: bool = False) -> dict[str, Any]:
    if nulls:
        return {"id": n, **{name: None for name in COLUMNS if name != "id"}}
    return {
        "id": n,
        "small": 7,
        "count": 70_000 + n,
        "ref": uuid.UUID(int=n),
        "label": f"Clínica São João {n} ✓",
        "colour": Colour.GREEN,
        "amount": Decimal("1234.50"),
        "day": date(2026, 2, 28),
        "at": datetime(2026, 12, 2, 14, 30, 15, 123456, tzinfo=UTC),
        "flag": n % 2 == 0,
        "doc": {"items": [{"amount": "80.00", "n": n}], "note": None},
    }


def stored(value: Any) -> Any:
    return value.value if isinstance(value, Colour) else value


@pytest.fixture
def ctx(harness: Harness) -> Iterator[PlanJourneyContext]:
    with PlanJourneyContext() as ctx:
        metadata.create_all(ctx.connection)
        yield ctx


def read_all(ctx: PlanJourneyContext) -> dict[int, dict[str, Any]]:
    rows = ctx.execute(sa.select(samples).order_by(samples.c.id)).mappings()
    return {row["id"]: dict(row) for row in rows}


@pytest.mark.parametrize("count", [1, 3])
def test_insert_stores_every_type_the_same_way(ctx: PlanJourneyContext, count: int) -> None:
    rows = [row(n, nulls=n == 2) for n in range(1, count + 1)]
    returned = insert_rows(ctx, samples, rows, returning="id")
    assert sorted(r.id for r in returned) == [r["id"] for r in rows]
    found = read_all(ctx)
    for written in rows:
        assert found[written["id"]] == {name: stored(v) for name, v in written.items()}


@pytest.mark.parametrize("count", [1, 3])
def test_conflicts_are_skipped_or_upserted_in_both_shapes(
    ctx: PlanJourneyContext, count: int
) -> None:
    insert_rows(ctx, samples, [row(n) for n in range(1, count + 1)])
    again = [{**row(n), "label": "changed"} for n in range(1, count + 1)]
    assert insert_rows(ctx, samples, again, on_conflict_do_nothing=True, returning="id") == []
    assert {r["label"] for r in read_all(ctx).values()} == {
        row(n)["label"] for n in range(1, count + 1)
    }
    insert_rows(ctx, samples, again, upsert_on=("id",))
    assert {r["label"] for r in read_all(ctx).values()} == {"changed"}


@pytest.mark.parametrize("count", [1, 3])
def test_select_by_keys_and_update_in_both_shapes(ctx: PlanJourneyContext, count: int) -> None:
    insert_rows(ctx, samples, [row(n) for n in range(1, 5)])
    keys = [(n, f"Clínica São João {n} ✓") for n in range(1, count + 1)]
    found = select_by_keys(ctx, samples, keys, ("id", "label"), ("id", "count"), lock=True)()
    assert [(r.id, r.count) for r in found] == [(n, 70_000 + n) for n in range(1, count + 1)]

    changes = [
        {"id": n, "amount": Decimal("0.01"), "colour": Colour.RED, "doc": None, "day": None}
        for n in range(1, count + 1)
    ]
    assert update_rows(ctx, samples, changes, touch=None) == count
    after = read_all(ctx)
    for n in range(1, 5):
        expected = (
            {"amount": Decimal("0.01"), "colour": "red", "doc": None, "day": None}
            if n <= count
            else {"amount": Decimal("1234.50"), "colour": "green", "day": date(2026, 2, 28)}
        )
        assert {key: after[n][key] for key in expected} == expected


def test_reads_sent_together_in_a_pipeline_each_get_their_own_rows(
    ctx: PlanJourneyContext,
) -> None:
    insert_rows(ctx, samples, [row(n) for n in range(1, 5)])
    with pipelined(ctx):
        one = select_by_keys(ctx, samples, [(2,)], ("id",), ("id", "label"))
        several = select_by_keys(ctx, samples, [(1,), (3,), (9,)], ("id",), ("id",))
        none = select_by_keys(ctx, samples, [], ("id",), ("id",))
        counted = read_later(ctx, "SELECT count(*) AS n FROM plan.bulk_samples", {})
        first = one()  # read inside the block: the statements sent after it still answer
    assert [(r.id, r.label) for r in first] == [(2, row(2)["label"])]
    assert [r.id for r in several()] == [1, 3]
    assert none() == []
    assert [r.n for r in counted()] == [4]


def test_a_pipelined_block_inside_another_joins_it(ctx: PlanJourneyContext) -> None:
    with pipelined(ctx):
        insert_rows(ctx, samples, [row(1)])
        with pipelined(ctx):
            insert_rows(ctx, samples, [row(2), row(3)])
        counted = read_later(ctx, "SELECT count(*) AS n FROM plan.bulk_samples", {})
        assert [r.n for r in counted()] == [3]
    assert set(read_all(ctx)) == {1, 2, 3}
