"""py-spy on a hookpost process during a phase (GIL-held samples at 100 Hz, not pausing
it), summarised by package, by hookpost function and in CPU ms per operation.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.procs import die_with_parent

PY_SPY = str(Path(sys.executable).with_name("py-spy"))
RATE = 100
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):\d+\)$")
# (substring of a frame's file, category); first match wins.
CATEGORIES = (
    ("hookpost/store/", "hookpost.store"),
    ("hookpost/api/", "hookpost.api"),
    ("hookpost/delivery/", "hookpost.delivery"),
    ("hookpost/service/", "hookpost.service"),
    ("hookpost/core/", "hookpost.core"),
    ("hookpost/", "hookpost (other)"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("greenlet", "SQLAlchemy"),
    ("aiosqlite/", "aiosqlite + sqlite3"),
    ("sqlite3/", "aiosqlite + sqlite3"),
    ("asyncpg/", "asyncpg"),
    ("aiohttp/", "aiohttp (+yarl, multidict)"),
    ("yarl/", "aiohttp (+yarl, multidict)"),
    ("multidict/", "aiohttp (+yarl, multidict)"),
    ("propcache/", "aiohttp (+yarl, multidict)"),
    ("aiohappyeyeballs/", "aiohttp (+yarl, multidict)"),
    ("uvicorn/", "uvicorn + httptools"),
    ("httptools/", "uvicorn + httptools"),
    ("fastapi/", "FastAPI + Starlette + anyio"),
    ("starlette/", "FastAPI + Starlette + anyio"),
    ("anyio/", "FastAPI + Starlette + anyio"),
    ("pydantic", "pydantic"),
    ("asyncio/", "asyncio event loop"),
    ("selectors.py", "asyncio event loop"),
    ("uvloop", "asyncio event loop"),
    ("json/", "json"),
    ("orjson", "json"),
    ("logging/", "logging"),
    ("threading.py", "threads + queues"),
    ("queue.py", "threads + queues"),
    ("contextlib.py", "contextlib"),
    ("typing.py", "typing"),
    ("enum.py", "enum"),
    ("dataclasses.py", "dataclasses"),
    ("uuid.py", "uuid"),
    ("hmac.py", "signing (hmac)"),
    ("datetime", "datetime"),
)


# Innermost frames that mean "waiting in epoll": py-spy's GIL detection can catch the thread
# just before it releases the GIL there; those samples are idle time, not cost.
_ROOT = "hookpost/cli.py"  # the CLI frames at the root of every stack say nothing
IDLE = ("EpollSelector.select", "select (selectors.py", "poll (selectors.py")


def category(frame: str) -> str:
    if frame.startswith(IDLE):
        return "idle (epoll wait)"
    match = _FRAME.match(frame)
    where = match.group("file") if match else frame
    for needle, name in CATEGORIES:
        if needle in where:
            return name
    return "other" if match else "native / unknown"


class Profiler:
    """Starts py-spy on demand; does nothing when profiling is off."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.summaries: dict[str, Any] = {}

    @contextmanager
    def attach(self, name: str, pid: int, operations: list[int]) -> Iterator[None]:
        """Profile `pid` during the block; `operations[0]` (set by the block) is how many
        deliveries or publishes it did, for the per-operation cost."""
        if self.folder is None:
            yield
            return
        raw = self.folder / f"{name}.collapsed.txt"
        spy = subprocess.Popen(
            [
                *(PY_SPY, "record", "--pid", str(pid), "--gil", "--nonblocking"),
                *("--rate", str(RATE), "--format", "raw", "--output", str(raw)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=die_with_parent,  # noqa: PLW1509
        )
        try:
            yield
        finally:
            spy.send_signal(signal.SIGINT)
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
        if raw.exists():
            summary = summarize(raw, operations[0] if operations else 0)
            self.summaries[name] = summary
            (self.folder / f"{name}.summary.txt").write_text(render(name, summary))


def function(frame: str) -> str:
    """A frame without its line number, so a function's samples add up."""
    match = _FRAME.match(frame)
    return f"{match.group('func')} ({match.group('file')})" if match else frame


def _stacks(raw: Path) -> Iterator[tuple[list[str], int]]:
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield stack.split(";"), int(count)


def summarize(raw: Path, operations: int) -> dict[str, Any]:
    by_category: Counter[str] = Counter()
    within: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = idle = 0
    for frames, count in _stacks(raw):
        if frames[-1].startswith(IDLE):
            idle += count
            continue
        total += count
        by_category[category(frames[-1])] += count
        leaf[function(frames[-1])] += count
        for name in {category(frame) for frame in frames}:
            within[name] += count
        for name in {function(f) for f in frames if "hookpost/" in f and _ROOT not in f}:
            inclusive[name] += count

    def per_op(samples: int) -> float | None:
        return round(samples * 1000 / RATE / operations, 3) if operations else None

    return {
        "samples": total,
        "idle_samples_dropped": idle,
        "cpu_seconds": round(total / RATE, 2),
        "operations": operations,
        "cpu_ms_per_operation": per_op(total),
        "by_category": [
            {"category": c, "share": round(n / total, 3), "ms_per_op": per_op(n)}
            for c, n in by_category.most_common()
        ]
        if total
        else [],
        "within_category": [
            {"category": c, "share": round(n / total, 3), "ms_per_op": per_op(n)}
            for c, n in within.most_common()
        ],
        "hookpost_inclusive": [
            {"frame": f, "share": round(n / total, 3), "ms_per_op": per_op(n)}
            for f, n in inclusive.most_common(30)
        ],
        "top_self": [{"frame": f, "share": round(n / total, 3)} for f, n in leaf.most_common(30)],
    }


def render(name: str, summary: dict[str, Any]) -> str:
    lines = [
        f"profile {name}: {summary['samples']} GIL-held samples at {RATE} Hz "
        f"= {summary['cpu_seconds']} s CPU; {summary['operations']} operations; "
        f"{summary['cpu_ms_per_operation']} ms CPU per operation "
        f"({summary['idle_samples_dropped']} samples in epoll wait left out)",
        "",
        "where the CPU went (innermost frame's package):",
    ]
    lines += [
        f"  {row['share']:6.1%}  {row['ms_per_op'] or 0:7.3f} ms/op  {row['category']}"
        for row in summary["by_category"]
    ]
    lines += ["", "time with a package anywhere on the stack (inclusive, overlapping):"]
    lines += [
        f"  {row['share']:6.1%}  {row['ms_per_op'] or 0:7.3f} ms/op  {row['category']}"
        for row in summary["within_category"]
    ]
    lines += ["", "hookpost functions, inclusive (time spent in them and below):"]
    lines += [
        f"  {row['share']:6.1%}  {row['ms_per_op'] or 0:7.3f} ms/op  {row['frame']}"
        for row in summary["hookpost_inclusive"]
    ]
    lines += ["", "hottest functions (self time, innermost frame):"]
    lines += [f"  {row['share']:6.1%}  {row['frame']}" for row in summary["top_self"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    # python -m bench.profiling NAME.collapsed.txt OPERATIONS: print the summary again.
    source = Path(sys.argv[1])
    print(render(source.name.removesuffix(".collapsed.txt"), summarize(source, int(sys.argv[2]))))
