"""Records read from rows by name: a record is a frozen dataclass whose fields name its columns, so
each is declared once and never read back by position."""

import functools
from dataclasses import fields
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Table

R = TypeVar("R")


def columns_of(
    record: type[Any], table: Table, names: tuple[str, ...] | None = None
) -> dict[str, ColumnElement[Any]]:
    """The table's columns a record's fields name (or those of its fields in `names`), in the record's
    order."""
    return {f.name: table.c[f.name] for f in fields(record) if names is None or f.name in names}


@functools.cache
def _names(record: type[Any]) -> tuple[str, ...]:
    return tuple(f.name for f in fields(record))


def record_of(record: type[R], row: Any) -> R:
    """A record from a row that has (at least) a column per field."""
    values = row._mapping
    return record(*[values[name] for name in _names(record)])  # type: ignore[arg-type]
