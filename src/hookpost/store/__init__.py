"""Durable state: the `Store` (one transaction per method) over SQLite or PostgreSQL.

There is one implementation for both dialects, so `Store` is that class rather than a
protocol repeating its signatures; a backend of another kind would extract one.
"""

from hookpost.store.sql_store import SqlStore as Store

__all__ = ["Store"]
