"""The scale benchmark's results (bench/scale.py): everything as JSON, and a Markdown page with
each figure next to its target ("flat": the largest size no more than 20 % worse than the
smallest), the drift of the run, and the plans of the hot statements on PostgreSQL.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import median
from typing import Any

import orjson

from bench import explain, growth_report
from bench.growth_report import _machine, _rows

FLAT = 0.20
FILTERED = 100  # rows one plan node reads and throws away before it is flagged
FANOUT_TARGET_MS_PER_1000 = 1000.0  # bench/run's goal: 1,000 endpoints' last arrival ≤ 1 s
RESULTS = Path(__file__).resolve().parent / "results"
Row = dict[str, Any]
Column = tuple[str, Callable[[Row], str]]
Figure = tuple[str, Callable[[Row], float | None], bool]  # name, value, higher is better


def write(results: dict[str, Any], folder: Path, stem: str) -> tuple[Path, Path]:
    return growth_report.write(results, folder, stem, markdown)


def reference_fanout() -> dict[str, Any]:
    """bench/run's 1,000-endpoint fan-out (median last arrival) from results/latest.json."""
    try:
        latest = orjson.loads((RESULTS / "latest.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    found = {
        name: config["fanout"]["median_last_ms"]
        for name, config in latest.get("hookpost", {}).items()
        if "fanout" in config
    }
    return {"code": latest.get("code", {}).get("commit"), "median_last_ms": found}


# --- checks ------------------------------------------------------------------------------


def flat(small: float | None, large: float | None, *, higher_is_better: bool) -> tuple[str, str]:
    """(change, mark): the largest size against the smallest, ✅ if no more than 20 % worse."""
    if not small or large is None:
        return "–", "–"
    change = large / small - 1
    worse = -change if higher_is_better else change
    return f"{change:+.0%}", "✅" if worse <= FLAT else "❌"


def slope(points: Sequence[tuple[int, float]]) -> str:
    """Least-squares change per 10× size, as a share of the smallest size's value."""
    usable = [(math.log10(x), y) for x, y in points if x > 0 and y is not None]
    if len(usable) < 2:
        return "–"
    mx = sum(x for x, _ in usable) / len(usable)
    my = sum(y for _, y in usable) / len(usable)
    spread = sum((x - mx) ** 2 for x, _ in usable)
    if not spread or not usable[0][1]:
        return "–"
    per_decade = sum((x - mx) * (y - my) for x, y in usable) / spread
    return f"{per_decade / usable[0][1]:+.1%} per 10×"


def _get(row: dict[str, Any], *path: str) -> Any:
    found: Any = row
    for key in path:
        if not isinstance(found, dict):
            return None
        found = found.get(key)
    return found


def _checks(
    rows: list[dict[str, Any]],
    size_key: str,
    figures: Sequence[Figure],
    unit: str,
) -> list[str]:
    """One line per store and figure: smallest → largest, change, slope, mark; and the
    smallest size measured again at the end of the store's run (the drift)."""
    out = []
    for store in dict.fromkeys(r["store"] for r in rows):
        first = [r for r in rows if r["store"] == store and not r.get("again")]
        again = [r for r in rows if r["store"] == store and r.get("again")]
        if len(first) < 2:
            continue
        small = min(first, key=lambda r: r[size_key])
        large = max(first, key=lambda r: r[size_key])
        for name, value, higher in figures:
            a, b = value(small), value(large)
            change, mark = flat(a, b, higher_is_better=higher)
            points = [(r[size_key], value(r)) for r in first]
            line = (
                f"- {store}, {name}: {_num(a)} at {_rows(small[size_key])} {unit} → {_num(b)} at "
                f"{_rows(large[size_key])} ({change}; {slope(points)}) {mark}"
            )
            later = value(again[-1]) if again else None
            if later is not None and a:
                line += f"; {_rows(small[size_key])} again at the end: {_num(later)}"
                line += f" ({later / a - 1:+.0%}: the run's drift)"
            out.append(line)
    return out or ["- not enough sizes measured"]


def _num(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


# --- the page ----------------------------------------------------------------------------


def markdown(results: dict[str, Any]) -> str:
    codes = results.get("codes", {})
    out = [
        "# How cost grows (issue 13)",
        "",
        f"Started {results.get('started')}, {results.get('seconds') or 0:.0f} s"
        f"{' (--quick)' if results.get('quick') else ''}; code "
        + ", ".join(f"`{k}` ({v.get('subject', '')[:70]})" for k, v in codes.items())
        + ".",
        "",
        f"Machine: {_machine(results.get('machine', {}))}. **Shared** with other sessions' "
        "tests and benchmarks: load before "
        f"`{results.get('uptime_before', '')}`; after `{results.get('uptime_after', '')}`. "
        "The 1-minute load average is given per row; rates and latencies move with it, CPU "
        "per operation much less.",
        "",
        "Layout: `hookpost serve` (one process) on SQLite and on a private PostgreSQL "
        "cluster (autovacuum on). Publishes as the SDK sends them: an `idempotency-key` on "
        "every request, the application inline. **Flat** (the target of every figure): the "
        "largest size no more than 20 % worse than the smallest, in this run. *Slope*: "
        "least-squares change per 10× size, as a share of the smallest size's value. "
        "Publishing over the fewest applications is measured again at the end of each "
        "store's run: its change is the drift of the machine over the run, the noise to read "
        "the other changes against.",
    ]
    if results.get("notes"):
        out += ["", "## Notes (added after the run)", "", *(f"- {n}" for n in results["notes"])]
    out += _drain(results.get("history", []), results.get("sizes", {}))
    out += _publish(results.get("apps", []), results.get("sizes", {}))
    out += _fanout(results.get("apps", []), results.get("reference_fanout", {}))
    out += _all_checks(results)
    out += _plans(results)
    cluster = results.get("postgres_cluster")
    if cluster:
        out += ["", "## PostgreSQL (private cluster started by the benchmark)", ""]
        out += [f"- `{k}` = `{v}`" for k, v in cluster.get("settings", {}).items()]
    return "\n".join(out) + "\n"


def _cpu(phase: dict[str, Any] | None) -> str:
    if not phase or "hookpost_cpu_ms" not in phase:
        return "–"
    text = f"{phase['hookpost_cpu_ms']:.3f}"
    if "postgres_cpu_ms" in phase:
        text += f" + {phase['postgres_cpu_ms']:.3f}"
    return text


def _total_cpu(phase: dict[str, Any] | None) -> float | None:
    if not phase or phase.get("hookpost_cpu_ms") is None:
        return None
    return float(phase["hookpost_cpu_ms"]) + float(phase.get("postgres_cpu_ms", 0.0))


def _label(row: dict[str, Any], key: str) -> str:
    return _rows(row[key]) + (" (again)" if row.get("again") else "")


def _table(rows: list[Row], columns: Sequence[Column]) -> list[str]:
    out = ["", "| " + " | ".join(title for title, _ in columns) + " |"]
    out.append("|" + "---|" * len(columns))
    out += ["| " + " | ".join(cell(row) for _, cell in columns) + " |" for row in rows]
    return out


def _load(row: Row) -> str:
    return str(row.get("load_before", ["?"])[0])


def _part(
    title: str,
    prose: str,
    rows: list[Row],
    columns: Sequence[Column],
    checked: tuple[str, str, Sequence[Figure]],
) -> list[str]:
    """A part of the page: what was measured, its table, and whether each figure is flat
    (`checked`: the size's key in a row, its unit, the figures)."""
    size_key, unit, figures = checked
    out = ["", title, "", prose, *_table(rows, columns), "", "Flat?", ""]
    return out + _checks(rows, size_key, figures, unit)


def _drain(rows: list[Row], sizes: dict[str, Any]) -> list[str]:
    return _part(
        f"## 1. Drain of a {sizes.get('drain', 0):,} backlog with history",
        "N finished deliveries and N attempts (and N messages) already in the tables "
        "(`seeding.py`: 98 % succeeded, 2 % failed, over 50 organizations, 1,000 "
        "applications, 14 days), then a held backlog made due at once; deliveries/s between "
        "the first and the last receipt; CPU of hookpost and of PostgreSQL's backends per "
        "delivery over the drain.",
        rows,
        [
            ("store", lambda r: str(r["store"])),
            ("rows of history", lambda r: _label(r, "rows")),
            ("drain /s", lambda r: f"{_get(r, 'drain', 'rate') or 0:,.0f}"),
            ("CPU ms per delivery, hookpost + PostgreSQL", lambda r: _cpu(r.get("drain"))),
            ("seeding s", lambda r: f"{_get(r, 'seed', 'seconds') or 0:.0f}"),
            ("load", _load),
        ],
        (
            "rows",
            "rows",
            [
                ("drain /s", lambda r: _get(r, "drain", "rate"), True),
                ("CPU ms per delivery", lambda r: _total_cpu(r.get("drain")), False),
            ],
        ),
    )


def _publish(rows: list[Row], sizes: dict[str, Any]) -> list[str]:
    return _part(
        "## 2. Publishing over 10 / 10,000 / 100,000 applications",
        "Applications (one endpoint each, on the receiver) written set-based "
        "(`seed_apps.py`); every publish names an application drawn uniformly from all of "
        f"them. Burst: 64 concurrent clients for {sizes.get('burst_seconds', 0):g} s; paced: "
        f"{sizes.get('rate', 0):g}/s for {sizes.get('paced_seconds', 0):g} s, publish "
        "latency request → 202 and delivery latency publish → receipt. CPU per message "
        "published and delivered.",
        rows,
        [
            ("store", lambda r: str(r["store"])),
            ("applications", lambda r: _label(r, "apps")),
            ("burst /s", lambda r: f"{_get(r, 'burst', 'rate') or 0:,.0f}"),
            ("CPU ms per message (burst), hookpost + PostgreSQL", lambda r: _cpu(r.get("burst"))),
            ("paced publish p50 / p99 ms", lambda r: _ms(_get(r, "paced", "publish_ms"))),
            ("delivery p50 / p99 ms", lambda r: _ms(_get(r, "paced", "delivery_ms"))),
            ("load", _load),
        ],
        (
            "apps",
            "applications",
            [
                ("burst /s", lambda r: _get(r, "burst", "rate"), True),
                ("paced publish p50 ms", lambda r: _get(r, "paced", "publish_ms", "p50"), False),
                ("CPU ms per message (burst)", lambda r: _total_cpu(r.get("burst")), False),
            ],
        ),
    )


def _ms(figures: dict[str, float] | None) -> str:
    if not figures:
        return "–"
    return " / ".join(f"{figures[p]:.1f}" for p in ("p50", "p99") if p in figures)


def fanout_summary(row: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The median of each figure over the rounds, by number of endpoints."""
    found: dict[int, dict[str, Any]] = {}
    rounds = _get(row, "fanout", "rounds") or []
    for n in sorted({r["endpoints"] for r in rounds}):
        mine = [r for r in rounds if r["endpoints"] == n]
        found[n] = {"rounds": len(mine), "last_by_round": [r.get("last_ms") for r in mine]}
        for key in ("publish_ms", "first_ms", "last_ms", "rate", "hookpost_cpu_ms"):
            values = [r[key] for r in mine if r.get(key) is not None]
            found[n][key] = median(values) if values else None
        pg = [r["postgres_cpu_ms"] for r in mine if "postgres_cpu_ms" in r]
        if pg:
            found[n]["postgres_cpu_ms"] = median(pg)
    return found


def _fanout(rows: list[dict[str, Any]], reference: dict[str, Any]) -> list[str]:
    with_fanout = [r for r in rows if r.get("fanout")]
    if not with_fanout:
        return []
    out = ["", "## 3. Fan-out: one message to one application's endpoints", ""]
    out.append(
        "Endpoints written set-based, each its own URL path on the receiver (on 127.0.0.1), "
        "in the database with the most applications; one SDK-style publish per round, the "
        "sizes interleaved, the median of the rounds. *Last arrival*: from the publish "
        "request to the last receipt; deliveries/s = endpoints / last arrival."
    )
    out += [
        "",
        "| store | endpoints | rounds | publish → 202 ms | first / last arrival ms "
        "| last arrival by round, ms | deliveries/s | CPU ms per delivery, hookpost + PostgreSQL |",
        "|---|---|---|---|---|---|---|---|",
    ]
    checks = []
    for row in with_fanout:
        summary = fanout_summary(row)
        for n, f in summary.items():
            out.append(
                f"| {row['store']} | {n:,} | {f['rounds']} | {_num(f['publish_ms'])} "
                f"| {_num(f['first_ms'])} / {_num(f['last_ms'])} "
                f"| {', '.join(_num(x) for x in f['last_by_round'])} | {_num(f['rate'])} "
                f"| {_cpu(f)} |"
            )
        small, large = min(summary), max(summary)
        change, mark = flat(summary[small]["rate"], summary[large]["rate"], higher_is_better=True)
        checks.append(
            f"- {row['store']}, deliveries/s: {_num(summary[small]['rate'])} at {small:,} → "
            f"{_num(summary[large]['rate'])} at {large:,} endpoints ({change}) {mark}"
        )
        target = FANOUT_TARGET_MS_PER_1000 * large / 1000
        last = summary[large]["last_ms"]
        ok = "✅" if last is not None and last <= target else "❌"
        checks.append(
            f"- {row['store']}, last arrival at {large:,} endpoints: {_num(last)} ms "
            f"(target ≤ {target:,.0f} ms: bench/run's 1 s per 1,000, scaled) {ok}"
        )
    out += ["", "Flat and on target?", "", *checks]
    known = reference.get("median_last_ms", {})
    if known:
        out += [
            "",
            f"bench/run's 1,000-endpoint fan-out (`results/latest.json`, code "
            f"{reference.get('code')}, another run on another day): "
            + ", ".join(f"{name} {ms:.0f} ms" for name, ms in known.items())
            + "; the 1,000 row above is the same figure in this run.",
        ]
    return out


def _all_checks(results: dict[str, Any]) -> list[str]:
    out = ["", "## Checks", ""]
    problems = []
    for part, phases in (("history", ("drain",)), ("apps", ("burst", "paced"))):
        for row in results.get(part, []):
            where = f"{row['store']} {part} {_rows(row.get('rows') or row.get('apps') or 0)}"
            for phase in phases:
                figures = row.get(phase, {})
                wanted = figures.get("accepted", figures.get("backlog", 0))
                if figures.get("delivered", 0) < wanted:
                    problems.append(f"- {where} {phase}: {figures.get('delivered')} of {wanted}")
                bad = {k: v for k, v in figures.get("statuses", {}).items() if k != "202"}
                if bad:
                    problems.append(f"- {where} {phase}: statuses {bad}")
            for fan in _get(row, "fanout", "rounds") or []:
                if fan["distinct_endpoints"] < fan["endpoints"] or fan["duplicates"]:
                    problems.append(
                        f"- {where} fan-out {fan['endpoints']:,}: {fan['distinct_endpoints']} "
                        f"endpoints reached, {fan['duplicates']} duplicates"
                    )
    return out + (problems or ["- everything published was delivered, every endpoint once"])


def _plans(results: dict[str, Any]) -> list[str]:
    groups = []
    for row in results.get("history", []):
        if row.get("plans"):
            groups.append((f"{row['store']}, {_rows(row['rows'])} rows of history", row["plans"]))
    for row in results.get("apps", []):
        if row.get("plans"):
            groups.append((f"{row['store']}, {_rows(row['apps'])} applications", row["plans"]))
        for n, plans in (_get(row, "fanout", "plans") or {}).items():
            groups.append((f"{row['store']}, fan-out to {int(n):,} endpoints", plans))
    if not groups:
        return []
    out = ["", "## 4. Plans of the hot statements (PostgreSQL, auto_explain)", ""]
    out.append(
        "Logged by auto_explain (ANALYZE, BUFFERS) at the smallest and the largest size of "
        "each part, in a window of their own after the measured phases: for history, a "
        "2,000 backlog drained then SDK-style publishing at 50/s for 3 s; for applications, "
        "that publishing spread over all of them; for fan-out, one more message. The slowest "
        "execution of each statement seen, and the 8 KB buffers its top node touched: a "
        "statement that reads more as the tables grow shows it in its buffers. **Seq Scan** "
        "is flagged ⚠️, and so is a node that threw away 100 rows or more (`Rows Removed by "
        "Filter`: an index serving only part of the condition); a Seq Scan on a table that is "
        "small at that size (a few applications) is the planner's right choice there."
    )
    out.append("")
    for title, plans in groups:
        out.append(f"- **{title}**: " + "; ".join(_summary(n, f) for n, f in plans.items()))
    for title, plans in groups:
        out += ["", f"### {title}", ""]
        for name, found in plans.items():
            plan = explain.without_query(str(found["plan"]))
            out += [f"{name}, {found['duration_ms']} ms:", "", "```", plan, "```", ""]
    return out


def _summary(name: str, found: dict[str, Any]) -> str:
    plan = str(found["plan"])
    scans = explain.scans(plan)
    tables = (scan.split(" (")[0].removeprefix("->").strip() for scan in scans)
    flag = f" ⚠️ {', '.join(tables)}" if scans else ""
    if explain.filtered(plan) >= FILTERED:
        flag += f" ⚠️ {explain.filtered(plan):,} rows removed by a filter"
    short = name.split(" (", maxsplit=1)[0]
    return f"{short} {found['duration_ms']:.2f} ms, {explain.buffers(plan)} buffers{flag}"


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.scale_report results/scale.json`: the Markdown page again from the
    JSON (after a change to this report)."""
    import sys  # noqa: PLC0415 - only for this entry point

    for name in argv if argv is not None else sys.argv[1:]:
        path = Path(name)
        write(orjson.loads(path.read_bytes()), path.parent, path.stem)
        print(path.with_suffix(".md"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
