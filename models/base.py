"""The declarative base: every table on one ``MetaData(schema="plan")`` with a naming convention."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "plan"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    metadata = metadata
    type_annotation_map = {datetime: sa.DateTime(timezone=True)}


def enum_type(enum_class: type[Enum], name: str) -> sa.Enum:
    """A VARCHAR holding the enum's values, guarded by a CHECK constraint named ``name``."""
    return sa.Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


def created_at_column() -> Mapped[datetime]:
    return mapped_column(
        server_default=sa.func.now(), nullable=False, comment="When the row was written"
    )


def updated_at_column() -> Mapped[datetime]:
    return mapped_column(
        server_default=sa.func.now(),
        onupdate=sa.func.now(),
        nullable=False,
        comment="When the row last changed",
    )


MONEY = sa.Numeric(12, 2)
PERCENT = sa.Numeric(5, 2)


def table_of(model: type[Base]) -> sa.Table:
    """The Core table behind a model, for set-based statements."""
    return cast(sa.Table, model.__table__)
