"""SQL text for the statements run straight on the drivers (asyncpg, sqlite3): the hot path.

Every name put into this SQL comes from the schema, never from input; values always travel
as parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa


def column_list(table: sa.Table, alias: str | None = None, prefix: str = "") -> str:
    """`alias."col" AS prefixcol, ...` for every column of `table`."""
    head = f"{alias}." if alias else ""
    return ", ".join(f'{head}"{c.name}" AS {prefix}{c.name}' for c in table.c)


def column_names(table: sa.Table) -> str:
    return ", ".join(f'"{c.name}"' for c in table.c)


def array_parameters(table: sa.Table, first: int) -> str:
    """`$first::type[], ...`: one array parameter per column of `table`, for unnest()."""
    return ", ".join(f"${first + n}::{_array_type(c)}" for n, c in enumerate(table.c))


def _array_type(column: sa.Column[Any]) -> str:
    # Strings travel as text[]: an explicit cast to varchar(n) would silently truncate, while
    # the column's own assignment refuses a value that is too long.
    kind = column.type
    for python_type, name in _ARRAY_TYPES:
        if isinstance(kind, python_type):
            return name
    raise TypeError(f"no array type for {column.name}: {kind!r}")


_ARRAY_TYPES: tuple[tuple[type[Any], str], ...] = (
    (sa.LargeBinary, "bytea[]"),
    (sa.Boolean, "boolean[]"),
    (sa.BigInteger, "bigint[]"),
    (sa.SmallInteger, "smallint[]"),
    (sa.Integer, "integer[]"),
    (sa.String, "text[]"),
)


def columns_of(table: sa.Table, values: Iterable[Mapping[str, Any]]) -> list[list[Any]]:
    """Rows given as dicts, turned into one list per column of `table` (for unnest())."""
    listed = list(values)
    return [[row[c.name] for row in listed] for c in table.c]


class Insert:
    """sqlite3's INSERT of whole rows of `table`, given as dicts keyed by column name."""

    def __init__(self, table: sa.Table) -> None:
        self.names = tuple(c.name for c in table.c)
        places = ", ".join("?" * len(self.names))
        self.sql = f'INSERT INTO "{table.name}" ({column_names(table)}) VALUES ({places})'  # noqa: S608

    def arguments(self, values: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        return [tuple(row[name] for name in self.names) for row in values]


def marks(count: int) -> str:
    """`?, ?, ?` for an IN list of `count` values (sqlite3 has no arrays)."""
    return ", ".join("?" * count)
