"""The soak benchmark's results: everything as JSON, and a Markdown page with the per-minute
table, the faults and what followed them, the no-loss check and the cluster's settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

FLAT = 0.20  # publish p50 late in the run within 20 % of early in the run


def write(results: dict[str, Any], folder: Path, stem: str) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    as_json, as_md = folder / f"{stem}.json", folder / f"{stem}.md"
    as_json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    as_md.write_text(markdown(results))
    return as_json, as_md


def _pair(figures: dict[str, float], a: str = "p50", b: str = "p99") -> str:
    if not figures:
        return "–"
    return f"{figures[a]:,.1f} / {figures[b]:,.1f}"


def _by_role(values: dict[str, Any]) -> str:
    return " / ".join(f"{values[r]}" for r in ("api", "worker1", "worker2") if r in values) or "–"


def markdown(results: dict[str, Any]) -> str:
    code = results.get("code", {})
    publishing = results.get("publishing", {})
    check = results.get("verification", {})
    apps = results.get("apps", {})
    out = [
        "# Soak benchmark",
        "",
        f"Started {results.get('started')}; {results.get('minutes')} minutes; code "
        f"`{code.get('commit')}` ({code.get('subject', '')[:80]}).",
        "",
        f"Load before: `{results.get('uptime_before', '')}`; after: "
        f"`{results.get('uptime_after', '')}`.",
        "",
        f"`hookpost api` + 2 `hookpost worker` on a private PostgreSQL cluster; "
        f"{results.get('rate')} msg/s paced ({publishing.get('style', '')}: an idempotency key "
        f"on every request, the application inline, 5xx retried with the same key) over "
        f"{apps.get('total')} applications, each with a healthy endpoint; {apps.get('flaky')} "
        f"also with a flaky one (30 % 500s), {apps.get('slow')} with a slow one (1-3 s). "
        f"Sent {publishing.get('sent', 0):,}, acknowledged {publishing.get('accepted', 0):,} "
        f"(statuses {publishing.get('statuses')}), achieved "
        f"{publishing.get('achieved_rate', 0):.1f} msg/s.",
        "",
        "| minute | published | publish p50 / p99 ms | healthy delivery p50 / p99 ms "
        "| RSS MB api / w1 / w2 | open fds api / w1 / w2 | database MB |",
        "|---|---|---|---|---|---|---|",
    ]
    table = results.get("minutes_table", [])
    for row in table:
        out.append(
            f"| {row['minute']} | {row['published']:,} | {_pair(row['publish_ms'])} "
            f"| {_pair(row['healthy_delivery_ms'])} | {_by_role(row['rss_mb'])} "
            f"| {_by_role(row['fds'])} | {row['db_mb'] if row['db_mb'] is not None else '–'} |"
        )
    out += ["", "## Checks", ""]
    lost = check.get("lost")
    out.append(
        f"- Nothing lost: {check.get('acknowledged', 0):,} acknowledged messages, "
        f"{check.get('delivered_to_healthy', 0):,} distinct deliveries to healthy endpoints, "
        f"{lost} acknowledged message(s) missing at a healthy endpoint "
        f"{'✅' if lost == 0 else '❌'} (waited {results.get('final_wait_seconds')} s after "
        "the last publish)."
    )
    out.append(f"- {_flatness(table)}")
    receiver = results.get("receiver", {})
    out.append(
        f"- Receiver: {receiver.get('healthy', 0):,} healthy requests "
        f"({receiver.get('duplicates', 0)} duplicates), {receiver.get('flaky', 0):,} flaky "
        f"({receiver.get('flaky_500', 0):,} answered 500), {receiver.get('slow', 0):,} slow."
    )
    out += ["", "## Faults", ""]
    for event in results.get("faults", []):
        after = event.get("next_30s_delivery_ms", {})
        out.append(
            f"- {event['what']}: healthy delivery of messages published in the next 30 s, "
            f"p50 / p99 / max {_pair(after)} / {after.get('max', '–')} ms"
        )
    for error in results.get("fault_errors", []):
        out.append(f"- fault injection failed: {error}")
    problems = results.get("log_problems", [])
    if problems:
        out += ["", "## What hookpost logged (warnings and errors, first 30)", ""]
        out += [f"- `{line}`" for line in problems]
    settings = results.get("postgres_cluster", {}).get("settings", {})
    if settings:
        out += ["", "## PostgreSQL (private cluster started by the benchmark)", ""]
        out += [f"- `{k}` = `{v}`" for k, v in settings.items()]
    out += [
        "",
        "hookpost settings: "
        + ", ".join(f"`{k}={v}`" for k, v in results.get("settings", {}).items()),
    ]
    return "\n".join(out) + "\n"


def _flatness(table: list[dict[str, Any]]) -> str:
    """Does publishing slow down as history grows? The median publish p50 of the last three
    full minutes against that of the first three after the warm-up minute: within 20 %?
    The worst single minute is shown too (the faults land in some minutes by design)."""
    published = sorted(r["published"] for r in table if r["publish_ms"])
    typical = published[len(published) // 2] if published else 0
    # A minute is full when it saw most of a typical minute's publishes (the last row can
    # hold only the stragglers of a run that ended just past a minute boundary).
    full = [r for r in table if r["publish_ms"] and r["published"] >= typical * 0.9]
    steady = full[1:]  # the first minute warms caches and connections
    if len(steady) < 6:
        return "Publish p50 flatness: not enough minutes (at least 7 full ones)."

    def median_p50(rows: list[dict[str, Any]]) -> float:
        return sorted(r["publish_ms"]["p50"] for r in rows)[len(rows) // 2]

    first, last = median_p50(steady[:3]), median_p50(steady[-3:])
    change = last / first - 1
    worst = max(steady, key=lambda r: r["publish_ms"]["p50"])
    mark = "✅" if change <= FLAT else "❌"
    return (
        f"Publish p50 flat within 20 % as history grows: median of minutes "
        f"{steady[0]['minute']}-{steady[2]['minute']} {first:.1f} ms, of minutes "
        f"{steady[-3]['minute']}-{steady[-1]['minute']} {last:.1f} ms ({change:+.0%}) {mark}; "
        f"highest single minute {worst['minute']} {worst['publish_ms']['p50']:.1f} ms "
        f"({worst['publish_ms']['p50'] / first - 1:+.0%}; the Faults section says when each struck)"
    )
