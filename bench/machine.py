"""The machine a run measured: CPU model, cores, RAM, OS, Python, SQLite and PostgreSQL,
plus the versions of the libraries on hookpost's hot paths.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from bench import databases

LIBRARIES = ("aiohttp", "aiosqlite", "asyncpg", "fastapi", "pydantic", "sqlalchemy", "uvicorn")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cores": psutil.cpu_count(logical=True),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "sqlite": databases.sqlite_version(),
        "postgresql": databases.postgres_version(),
        "libraries": {name: _version(name) for name in LIBRARIES},
    }


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "missing"
