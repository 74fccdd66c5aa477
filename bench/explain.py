"""The plans of hookpost's hot statements as it really runs them, on the private cluster:
auto_explain logs every statement's plan (with actual rows and timings) for a short window.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import asyncpg

# What identifies each hot statement in a plan's "Query Text".
HOT = {
    "key lookup (publish, messages by idempotency key)": re.compile(
        r"FROM messages\s.*WHERE.*idempotency_key", re.S
    ),
    "claim (lease due deliveries)": re.compile(r"FOR UPDATE (?:OF \w+ )?SKIP LOCKED", re.S),
    "record (attempts and delivery states)": re.compile(r"INSERT INTO attempts", re.S),
    "fan-out (endpoints of applications)": re.compile(r"FROM endpoints\s.*WHERE.*app_id", re.S),
    # A publish reads its applications with their endpoints in one statement (PostgreSQL).
    "applications + endpoints (publish fan-out)": re.compile(
        r"FROM applications AS a\s+LEFT JOIN endpoints", re.S
    ),
    "publish insert (messages and deliveries)": re.compile(r"INSERT INTO messages", re.S),
}
_ENTRY = re.compile(r"^\S.*LOG:\s+duration: ([\d.]+) ms\s+plan:\n", re.M)


async def _set(dsn: str, on: bool) -> None:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        if on:
            await conn.execute("ALTER SYSTEM SET auto_explain.log_min_duration = 0")
        else:
            await conn.execute("ALTER SYSTEM RESET auto_explain.log_min_duration")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


def switch(admin_dsn: str, on: bool) -> None:
    """Start (or stop) logging the plan of every statement in every session."""
    asyncio.run(_set(admin_dsn, on))


def collect(log: Path, since: int) -> dict[str, dict[str, object]]:
    """The slowest logged plan of each hot statement after byte offset `since` of the log."""
    text = log.read_bytes()[since:].decode(errors="replace")
    marks = list(_ENTRY.finditer(text))
    found: dict[str, dict[str, object]] = {}
    for n, mark in enumerate(marks):
        end = marks[n + 1].start() if n + 1 < len(marks) else len(text)
        body = _body(text[mark.end() : end])
        for name, pattern in HOT.items():
            if pattern.search(body):
                duration = float(mark.group(1))
                if name not in found or duration > float(str(found[name]["duration_ms"])):
                    found[name] = {"duration_ms": duration, "plan": body}
                break
    return found


def _body(chunk: str) -> str:
    """The indented continuation lines of one log entry, tabs removed."""
    lines = []
    for line in chunk.splitlines():
        if not line.startswith(("\t", " ")):
            break
        lines.append(line.removeprefix("\t"))
    return "\n".join(lines)


def scans(plan: str) -> list[str]:
    """The sequential scans in a plan (of real tables, not of a CTE or a function)."""
    return [line.strip() for line in plan.splitlines() if "Seq Scan on" in line]


def filtered(plan: str) -> int:
    """The most rows one node of the plan read and threw away (`Rows Removed by Filter`): an
    index that serves only part of the condition shows here as the table grows."""
    return max((int(n) for n in re.findall(r"Rows Removed by Filter: (\d+)", plan)), default=0)


def buffers(plan: str) -> int:
    """Shared buffers (hit + read) the plan's top node touched; 0 when not reported."""
    for line in plan.splitlines():
        found = re.search(r"Buffers: shared(?: hit=(\d+))?(?: read=(\d+))?", line)
        if found:
            return sum(int(n) for n in found.groups() if n)
    return 0


def without_query(plan: str) -> str:
    """The plan without its (long) query text: the statement's first line stays."""
    lines = plan.splitlines()
    if not lines or not lines[0].startswith("Query Text"):
        return plan
    body = [n for n, line in enumerate(lines) if line == ""]
    first = next((line for line in lines[1:] if line.strip()), "")
    rest = lines[body[0] + 1 :] if body else lines[1:]
    return "\n".join([f"Query Text: {first.strip()[:90]} ...", *rest])
