"""SQL text for the statements run straight on asyncpg (PostgreSQL's hot path).

Every name put into this SQL comes from the schema, never from input; values always travel
as $n parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa


def column_list(table: sa.Table, alias: str | None = None, prefix: str = "") -> str:
    """`alias."col" AS prefixcol, ...` for every column of `table`."""
    head = f"{alias}." if alias else ""
    return ", ".join(f'{head}"{c.name}" AS {prefix}{c.name}' for c in table.c)


class Insert:
    """A multi-row INSERT of whole rows of `table`, given as dicts keyed by column name, with
    asyncpg's numbered placeholders or (`qmark=True`) sqlite3's question marks."""

    def __init__(self, table: sa.Table, *, qmark: bool = False) -> None:
        self.names = tuple(c.name for c in table.c)
        quoted = ", ".join(f'"{name}"' for name in self.names)
        numbers = range(1, len(self.names) + 1)
        places = ", ".join("?" if qmark else f"${n}" for n in numbers)
        self.sql = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({places})'  # noqa: S608

    def arguments(self, values: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        return [tuple(row[name] for name in self.names) for row in values]


def marks(count: int) -> str:
    """`?, ?, ?` for an IN list of `count` values (sqlite3 has no arrays)."""
    return ", ".join("?" * count)


class Row:
    """Attribute access to an asyncpg record, as the row converters in rows.py expect."""

    __slots__ = ("_record",)

    def __init__(self, record: Mapping[str, Any]) -> None:
        self._record = record

    def __getattr__(self, name: str) -> Any:
        try:
            return self._record[name]
        except KeyError:
            raise AttributeError(name) from None
