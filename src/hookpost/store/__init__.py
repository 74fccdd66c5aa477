"""Durable state over SQLite or PostgreSQL: narrow ports (`ports.py`), one class implementing
each (`Stores` builds them over one database), one transaction per method.
"""

from hookpost.store.stores import Stores

__all__ = ["Stores"]
