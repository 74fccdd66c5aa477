"""The growth benchmark's results: everything as JSON, and a Markdown page with the table,
the goal (publish p50 at the largest size within 20 % of the empty tables), settings and plans.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench import explain

GOAL = 0.20


def write(
    results: dict[str, Any],
    folder: Path,
    stem: str,
    render: Callable[[dict[str, Any]], str] | None = None,
) -> tuple[Path, Path]:
    """`<stem>.json` (everything) and `<stem>.md` (`render`, this report's by default)."""
    folder.mkdir(parents=True, exist_ok=True)
    as_json, as_md = folder / f"{stem}.json", folder / f"{stem}.md"
    as_json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    as_md.write_text((render or markdown)(results))
    return as_json, as_md


def _ms(figures: dict[str, float] | None, *points: str) -> str:
    if not figures:
        return "–"
    return " / ".join(f"{figures[p]:.1f}" for p in points if p in figures)


def _rows(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:g} M"
    return f"{n:,}"


def markdown(results: dict[str, Any]) -> str:
    out = ["# Growth benchmark", ""]
    out += [
        f"Started {results.get('started')}, {results.get('seconds') or 0:.0f} s; code "
        + ", ".join(
            f"`{label}` ({info.get('subject', '')[:70]})"
            for label, info in results.get("codes", {}).items()
        )
        + ".",
        "",
        f"Machine: {_machine(results.get('machine', {}))}.",
        f"Load before: `{results.get('uptime_before', '')}`; after: "
        f"`{results.get('uptime_after', '')}`.",
        *_merged(results),
        *([results["note"]] if results.get("note") else []),
        "",
        "Publishes as SDK users send them (*keyed+inline*: an `idempotency-key` on every "
        "request, the application inline in the body), paced at a fixed rate from one client "
        "process; *keyed only* sends the key without the inline application, *plain* neither "
        "(the bare publish of `bench/run`), for comparison. CPU per message: user + system "
        "CPU of the hookpost process and of PostgreSQL's backends for the database during the "
        "keyed+inline phase, per message published and delivered (other work on the machine "
        "barely moves it, unlike latency; PostgreSQL's parallel workers exit before they can "
        "be measured, so a parallel scan shows in the plans below, not in that figure). "
        "Layout: "
        "`hookpost serve` (one process). Delivery latency is publish request → receipt. "
        "Throughput: 64 concurrent clients (keyed+inline) for a few seconds. Drain: a held "
        "backlog made due at once. Load average (1 min) is given per row: compare rows run "
        "close together.",
        "",
        "| store | rows per table | code | publish p50 / p95 / p99 ms (keyed+inline) "
        "| delivery p50 / p99 ms | CPU ms per message, hookpost + PostgreSQL "
        "| publish p50 / p99 ms, keyed only | plain | publish throughput /s | drain /s | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = results.get("rows", [])
    for row in rows:
        client, plain = row.get("client", {}), row.get("plain", {})
        out.append(
            f"| {row['store']} | {_rows(row['rows'])} | {row['code']} "
            f"| {_ms(client.get('publish_ms'), 'p50', 'p95', 'p99')} "
            f"| {_ms(client.get('delivery_ms'), 'p50', 'p99')} "
            f"| {_cpu(client)} "
            f"| {_ms(row.get('keyed', {}).get('publish_ms'), 'p50', 'p99')} "
            f"| {_ms(plain.get('publish_ms'), 'p50', 'p99')} "
            f"| {row.get('burst', {}).get('rate', 0):,.0f} "
            f"| {row.get('drain', {}).get('rate', 0):,.0f} "
            f"| {row.get('load_before', ['?'])[0]} |"
        )
    out += ["", "## Goal: publish p50 at the largest size within 20 % of the empty tables", ""]
    out += _goal(rows)
    out += ["", "## Checks", ""]
    for row in rows:
        problems = _problems(row)
        label = f"{row['store']} {_rows(row['rows'])} {row['code']}"
        out.append(f"- {label}: {'; '.join(problems) if problems else 'all delivered, no errors'}")
    cluster = results.get("postgres_cluster")
    if cluster:
        out += ["", "## PostgreSQL (private cluster started by the benchmark)", ""]
        out += [f"- `{k}` = `{v}`" for k, v in cluster.get("settings", {}).items()]
    out += _plans(rows)
    return "\n".join(out) + "\n"


def _merged(results: dict[str, Any]) -> list[str]:
    runs = results.get("merged_runs", [])[1:]
    return [
        f"Merged with the run started {run.get('started')} ({run.get('seconds') or 0:.0f} s; "
        f"load before `{run.get('uptime_before')}`, after `{run.get('uptime_after')}`)."
        for run in runs
    ]


def _cpu(phase: dict[str, Any]) -> str:
    if "hookpost_cpu_ms" not in phase:
        return "–"
    text = f"{phase['hookpost_cpu_ms']:.2f}"
    if "postgres_cpu_ms" in phase:
        text += f" + {phase['postgres_cpu_ms']:.2f}"
    return text


def _machine(m: dict[str, Any]) -> str:
    return (
        f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('ram_gb', '?')} GB RAM, "
        f"Python {m.get('python', '?')}, SQLite {m.get('sqlite', '?')}"
    )


def _goal(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["store"], row["code"]), []).append(row)
    for (store, code), found in groups.items():
        by_size = {r["rows"]: r.get("client", {}).get("publish_ms", {}).get("p50") for r in found}
        if 0 not in by_size or len(by_size) < 2 or not by_size[0]:
            continue
        top = max(by_size)
        base, high = by_size[0], by_size[top]
        if high is None:
            continue
        change = high / base - 1
        mark = "✅" if change <= GOAL else "❌"
        lines.append(
            f"- {store}, code {code}: {base:.1f} ms empty → {high:.1f} ms at {_rows(top)} rows "
            f"({change:+.0%}) {mark}"
        )
    return lines or ["- not enough sizes measured"]


def _problems(row: dict[str, Any]) -> list[str]:
    problems = []
    for phase in ("client", "keyed", "plain", "burst"):
        figures = row.get(phase, {})
        if figures.get("delivered", 0) < figures.get("accepted", 0):
            problems.append(f"{phase}: {figures['delivered']} of {figures['accepted']} delivered")
        bad = {k: v for k, v in figures.get("statuses", {}).items() if k != "202"}
        if bad:
            problems.append(f"{phase}: statuses {bad}")
    drain = row.get("drain", {})
    if drain and drain.get("delivered", 0) < drain.get("backlog", 0):
        problems.append(f"drain: {drain['delivered']} of {drain['backlog']} delivered")
    return problems


def _plans(rows: list[dict[str, Any]]) -> list[str]:
    with_plans = [r for r in rows if r.get("plans")]
    if not with_plans:
        return []
    out = ["", "## Plans of the hot statements (PostgreSQL, auto_explain, slowest seen)", ""]
    out.append(
        "Logged by auto_explain (ANALYZE, BUFFERS) for 3 s of keyed+inline publishing at "
        "50 msg/s, after the measured phases, at each size: the slowest execution of each "
        "statement seen, and the buffers (8 KB pages) its top node touched. A full index scan "
        "grows like a sequential scan: watch the buffers grow with the rows."
    )
    out.append("")
    for row in with_plans:
        summary = []
        for name, found in row["plans"].items():
            plan = str(found["plan"])
            seq = " (seq scan!)" if explain.scans(plan) else ""
            summary.append(
                f"{name.split(' (')[0]} {found['duration_ms']:.2f} ms, "
                f"{explain.buffers(plan)} buffers{seq}"
            )
        out.append(f"- {_rows(row['rows'])} rows, code {row['code']}: {'; '.join(summary)}")
    largest = max(r["rows"] for r in with_plans)
    for row in (r for r in with_plans if r["rows"] == largest):
        out += ["", f"### {_rows(largest)} rows, code {row['code']}", ""]
        for name, found in row["plans"].items():
            plan = explain.without_query(str(found["plan"]))
            out += [f"{name}, {found['duration_ms']} ms:", "", "```", plan, "```"]
            out.append("")
    return out


def merge(paths: list[Path]) -> dict[str, Any]:
    """Several growth runs as one (rows in order; the first run's header, the others'
    start, code and load kept under `merged_runs`)."""
    runs = [orjson.loads(path.read_bytes()) for path in paths]
    merged = dict(runs[0])
    merged["rows"] = [row for run in runs for row in run.get("rows", [])]
    merged["codes"] = {k: v for run in runs for k, v in run.get("codes", {}).items()}
    merged["merged_runs"] = [
        {k: run.get(k) for k in ("started", "seconds", "uptime_before", "uptime_after")}
        for run in runs
    ]
    return merged


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.growth_report A.json B.json --output growth`: one report of both."""
    import argparse  # noqa: PLC0415 - only for this entry point

    parser = argparse.ArgumentParser(prog="bench.growth_report", description=main.__doc__)
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--output", default="growth")
    args = parser.parse_args(argv)
    merged = merge(args.results)
    as_json, as_md = write(merged, Path(__file__).resolve().parent / "results", args.output)
    print(f"{as_json} and {as_md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
