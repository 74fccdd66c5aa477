"""The soak benchmark's results: everything as JSON, and a Markdown page with the per-minute
table, the faults and what followed them, the no-loss check and the cluster's settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

FLAT = 0.20  # publish p50 of every minute within 20 % of the first full minute's


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
    """Publish p50 of each full minute against the first: within 20 %?"""
    full = [r for r in table if r["publish_ms"] and r["published"] > 0]
    if len(full) < 2:
        return "Publish p50 flatness: not enough minutes."
    base = full[0]["publish_ms"]["p50"]
    worst = max(full, key=lambda r: r["publish_ms"]["p50"])
    change = worst["publish_ms"]["p50"] / base - 1
    last = full[-1]["publish_ms"]["p50"] / base - 1
    mark = "✅" if change <= FLAT else "❌"
    return (
        f"Publish p50 flat within 20 %: minute 1 {base:.1f} ms, highest minute "
        f"{worst['minute']} {worst['publish_ms']['p50']:.1f} ms ({change:+.0%}), last minute "
        f"{last:+.0%} {mark}"
    )
