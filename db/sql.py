"""Small SQL building blocks shared by the db modules."""

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ARRAY, BigInteger, ColumnElement, any_, literal
from sqlalchemy.types import TypeEngine


def array_of(
    values: Iterable[Any] | ColumnElement[Any], item: TypeEngine[Any] | None = None
) -> ColumnElement[Any]:
    """Values as one array parameter (BIGINT unless `item` says otherwise), or a column standing for one."""
    if isinstance(values, ColumnElement):
        return values
    return literal(list(values), ARRAY(item if item is not None else BigInteger()))


def among(
    column: ColumnElement[Any], values: Iterable[Any], item: TypeEngine[Any] | None = None
) -> ColumnElement[bool]:
    """`column = ANY(array)`: one parameter however many values, so the statement's SQL and plan are
    the same for a list of 1 and of 1,000 (an IN list renders a parameter per value)."""
    return column == any_(array_of(values, item))


# deal:view as a predicate on an owner column (None: every owner); db cannot read the grants itself.
OwnerFilter = Callable[[ColumnElement[Any]], ColumnElement[bool] | None]


@dataclass(frozen=True)
class OwnerScope:
    """A permission scope as db needs it (db cannot read the grants): a predicate on an owner column
    (None: every owner) built with named parameters, what decides its SQL's shape, and the parameters'
    values — so a statement built once per shape serves every viewer with that shape."""

    shape: Hashable
    predicate: OwnerFilter
    values: Mapping[str, Any]
