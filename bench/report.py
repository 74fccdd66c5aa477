"""The results of a run as JSON (everything) and Markdown (the table people read): every
figure next to the ceiling measured in the same run, its ratio to it, and the target.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OPERATIONS = {
    "publish-api": "publish",
    "publish-serve": "message published and delivered",
    "drain": "delivery",
}
TARGETS = {
    "drain_share_of_ceiling": 0.6,
    "publish_rate": 1500.0,
    "latency_p50_ms": 5.0,
    "latency_p99_ms": 25.0,
    "fanout_ms": 1000.0,
    "peak_rss_mb": 250.0,
}


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _ratio(value: float | None, ceiling: float | None) -> float | None:
    if not value or not ceiling:
        return None
    return round(value / ceiling, 3)


def add_ratios(results: dict[str, Any]) -> None:
    """Attach to each configuration its figures' ratios to the same run's ceilings."""
    ceilings = results.get("ceilings", {})
    for config in results.get("hookpost", {}).values():
        backend = config.get("backend")
        durable = _get(ceilings, f"durable_{backend}", "rate")
        publish = _get(ceilings, f"publish_{backend}", "rate")
        drain = _get(config, "drain", "rate")
        fanout_ms = _get(config, "fanout", "median_last_ms")
        ideal_ms = 1000 * _get(config, "fanout", "endpoints") / durable if durable else None
        config["ratios"] = {
            "publish_only_to_ceiling_c": _ratio(_get(config, "publish_only", "rate"), publish),
            "publish_delivering_to_ceiling_c": _ratio(
                _get(config, "publish_delivering", "rate"), publish
            ),
            "end_to_end_to_ceiling_b": _ratio(
                _get(config, "publish_delivering", "end_to_end_rate"), durable
            ),
            "drain_to_ceiling_b": _ratio(drain, durable),
            "ceiling_b_cpu_ms_per_delivery": _get(
                ceilings, f"durable_{backend}", "cpu_ms_per_delivery"
            ),
            "fanout_ceiling_b_ms": round(ideal_ms, 1) if ideal_ms else None,
            "fanout_ceiling_b_to_measured": _ratio(ideal_ms, fanout_ms),
        }


def _cpu_line(cpu: dict[str, float] | None) -> str:
    if not cpu:
        return ""
    return (
        f"\nCPU during the run: machine busy {cpu['machine_busy_cpu_seconds']:,.0f} s over "
        f"{cpu['wall_seconds']:,.0f} s of wall time; benchmark and hookpost processes "
        f"{cpu['benchmark_processes_cpu_seconds']:,.0f} s; PostgreSQL and everything else on "
        f"the machine {cpu['postgres_and_other_cpu_seconds']:,.0f} s."
    )


def _code(code: dict[str, Any]) -> str:
    dirty = code.get("uncommitted_src_changes") or []
    state = f"+ {len(dirty)} uncommitted src files" if dirty else "clean"
    return (
        f"{code.get('source', '?')} at {code.get('commit', '?')} ({state}, "
        f"src sha256 {code.get('src_sha256', '?')})"
    )


def write(results: dict[str, Any], folder: Path, stem: str) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    as_json = folder / f"{stem}.json"
    as_md = folder / f"{stem}.md"
    as_json.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")
    as_md.write_text(markdown(results))
    return as_json, as_md


def _rate(value: float | None, ratio: float | None = None, what: str = "") -> str:
    if value is None:
        return "–"
    text = f"{value:,.0f}/s"
    return f"{text} ({ratio:.0%} of {what})" if ratio is not None else text


def _rate_or_error(block: Any) -> str:
    """A ceiling's rate, or why it was not measured (an optional client not installed)."""
    rate = _get(block, "rate")
    return _rate(rate) if rate is not None else (_get(block, "error") or "–")


def _ms(block: Any) -> str:
    lat = _get(block, "latency_ms")
    if not lat:
        return _get(block, "error") or "–"
    return f"{lat['p50']:,.1f} / {lat['p95']:,.1f} / {lat['p99']:,.1f}"


def _rss(block: Any, key: str) -> str:
    peaks = _get(block, key)
    if not peaks:
        return "–"
    return ", ".join(f"{role} {mb:.0f}" for role, mb in peaks.items())


def _check(value: float | None, limit: float, *, below: bool = True) -> str:
    if value is None:
        return ""
    return " ✅" if (value <= limit if below else value >= limit) else " ❌"


def _figures(c: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, measured, target) rows of one configuration."""
    r = c.get("ratios", {})
    pub, live = c.get("publish_only", {}), c.get("publish_delivering", {})
    low, high = c.get("latency_low", {}), c.get("latency_high", {})
    drain, fan, mem = c.get("drain", {}), c.get("fanout", {}), c.get("memory", {})
    p50, p99 = _get(low, "latency_ms", "p50"), _get(low, "latency_ms", "p99")
    slow = None if p50 is None or p99 is None else max(p50 / 5, p99 / 25)
    peaks = [*(_get(mem, "peak_rss_down_mb") or {}).values()]
    peaks += (_get(mem, "peak_rss_draining_mb") or {}).values()
    last = fan.get("median_last_ms")
    drained = _rate(drain.get("rate"), r.get("drain_to_ceiling_b"), "b")
    return [
        (
            "publish, API process alone",
            _rate(pub.get("rate"), r.get("publish_only_to_ceiling_c"), "c") if pub else "–",
            "≥ 1,500/s" + _check(pub.get("rate"), 1500, below=False),
        ),
        (
            "publish while delivering",
            _rate(live.get("rate"), r.get("publish_delivering_to_ceiling_c"), "c"),
            "",
        ),
        (
            "end to end: published and delivered",
            _rate(live.get("end_to_end_rate"), r.get("end_to_end_to_ceiling_b"), "b"),
            "",
        ),
        (
            f"drain of a {drain.get('backlog', 0):,} backlog",
            drained,
            "≥ 60 % of b" + _check(r.get("drain_to_ceiling_b"), 0.6, below=False),
        ),
        (
            f"latency p50/p95/p99 ms at {low.get('target_rate', 0):g}/s"
            f" (publish achieved {low.get('achieved_publish_rate', 0):,.0f}/s)",
            _ms(low),
            "≤ 5 / – / 25" + _check(slow, 1.0),
        ),
        (
            f"latency p50/p95/p99 ms at {high.get('target_rate', 0):g}/s (80 % of end to end)",
            _ms(high),
            "",
        ),
        (
            f"fan-out to {fan.get('endpoints', '?')} endpoints: last arrival, median of 3",
            f"{last:,.0f} ms (b: {r.get('fanout_ceiling_b_ms')} ms)" if last else "–",
            "≤ 1,000 ms" + _check(last, 1000),
        ),
        (
            "hookpost CPU ms per publish (API alone) / per delivery (drain)",
            f"{pub.get('hookpost_cpu_ms_per_op', '–')}"
            f" / {drain.get('hookpost_cpu_ms_per_op', '–')}",
            f"b: {r.get('ceiling_b_cpu_ms_per_delivery', '–')} per delivery",
        ),
        (
            f"peak RSS MB, {mem.get('backlog', 0):,} waiting on a receiver that is down",
            _rss(mem, "peak_rss_down_mb"),
            "< 250 MB" + _check(max(peaks) if peaks else None, 250),
        ),
        (
            f"peak RSS MB while they drain ({mem.get('drain_window_seconds', 0):g} s window)",
            _rss(mem, "peak_rss_draining_mb"),
            "",
        ),
    ]


def _rows(name: str, c: dict[str, Any]) -> list[str]:
    lines = [f"| **{name}** | {c.get('layout', '')} | | |"]
    lines += [f"| | {figure} | {measured} | {target} |" for figure, measured, target in _figures(c)]
    return lines


def _settings(settings: dict[str, str] | None) -> str:
    """The BENCH_HOOKPOST_ENV settings the run gave hookpost, when it gave any."""
    if not settings:
        return ""
    return "Settings: " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())) + ". "


def markdown(results: dict[str, Any]) -> str:
    m, c = results.get("machine", {}), results.get("ceilings", {})
    lines = [
        f"# hookpost benchmark ({results.get('mode', '?')} run, {results.get('started', '')})",
        "",
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('ram_gb')} GB RAM; "
        f"Python {m.get('python')}, SQLite {m.get('sqlite')}, PostgreSQL {m.get('postgresql')}. "
        f"Code: {_code(results.get('code', {}))}. "
        + _settings(results.get("code", {}).get("settings"))
        + f"Load average before/after: {results.get('load_before')} / {results.get('load_after')}. "
        f"Run took {results.get('seconds', 0):.0f} s"
        + (" with py-spy attached (figures are perturbed)." if results.get("profiled") else "."),
        _cpu_line(results.get("cpu_during_run")),
        "",
        "## Ceilings, measured in this run",
        "",
        "| ceiling | rate | CPU per op |",
        "|---|---|---|",
        "| receiver alone (pipelined raw client) |"
        f" {_rate(_get(c, 'receiver_capacity', 'rate'))} | |",
        f"| (a) aiohttp signed 1 KB POSTs, 64 in flight, uvloop | {_rate(_get(c, 'http', 'rate'))}"
        f" | {_get(c, 'http', 'cpu_ms_per_request')} ms |",
        f"| (a2) minimal HTTP/1.1 client (asyncio Protocol + httptools), same load |"
        f" {_rate(_get(c, 'http_minimal', 'rate'))}"
        f" | {_get(c, 'http_minimal', 'cpu_ms_per_request')} ms |",
        f"| (a3) pyreqwest (Rust reqwest/hyper), same load |"
        f" {_rate_or_error(c.get('http_pyreqwest'))}"
        f" | {_get(c, 'http_pyreqwest', 'cpu_ms_per_request')} ms |",
        f"| (a4) hookpost's transport (`delivery.http1`: guard, deadlines, caps), same load |"
        f" {_rate(_get(c, 'http_hookpost', 'rate'))}"
        f" | {_get(c, 'http_hookpost', 'cpu_ms_per_request')} ms |",
        f"| (a') aiohttp on the stock asyncio loop | "
        f"{_rate(_get(c, 'http_stock_asyncio', 'rate'))} | "
        f"{_get(c, 'http_stock_asyncio', 'cpu_ms_per_request')} ms |",
    ]
    for backend in ("sqlite", "postgres"):
        if f"durable_{backend}" in c:
            d = c[f"durable_{backend}"]
            lines.append(
                f"| (b) minimal durable delivery loop, {backend} ({d.get('lanes')} lanes x 50) |"
                f" {_rate(d.get('rate'))} | {d.get('cpu_ms_per_delivery')} ms |"
            )
        if f"publish_{backend}" in c:
            lines.append(
                f"| (c) minimal durable publish (bare ASGI on uvicorn), {backend} |"
                f" {_rate(_get(c, f'publish_{backend}', 'rate'))} |"
                f" {_get(c, f'publish_{backend}', 'cpu_ms_per_publish')} ms |"
            )
    lines += ["", "## hookpost", "", "| config | figure | measured | target |", "|---|---|---|---|"]
    for name, config in results.get("hookpost", {}).items():
        lines += _rows(name, config)
    lines += ["", "CPU seconds per phase and every raw figure are in the JSON file.", ""]
    for name, config in results.get("hookpost", {}).items():
        problems = [k for k, v in config.items() if isinstance(v, dict) and "error" in v]
        for key in problems:
            lines.append(f"- {name} / {key}: **failed**: {config[key]['error'][:300]}")
        for key, phase in config.items():
            if isinstance(phase, dict) and phase.get("duplicates"):
                lines.append(
                    f"- {name} / {key}: **{phase['duplicates']} duplicate deliveries** "
                    "(same webhook-id to the same endpoint twice)"
                )
            for round_ in phase.get("rounds", []) if isinstance(phase, dict) else []:
                if round_.get("duplicates"):
                    lines.append(f"- {name} / {key}: {round_['duplicates']} duplicates in a round")
        for line in config.get("log_problems", [])[:5]:
            lines.append(f"- {name} log: `{line[:200]}`")
    profiles = results.get("profiles", {})
    if profiles:
        lines += ["", "## Profiles (py-spy, GIL-held samples)", ""]
        lines += [
            "| profile | CPU ms per operation | top packages (innermost frame) |",
            "|---|---|---|",
        ]
        for name, summary in profiles.items():
            top = ", ".join(
                f"{row['category']} {row['share']:.0%}" for row in summary["by_category"][:6]
            )
            what = next((v for k, v in OPERATIONS.items() if name.endswith(k)), "operation")
            lines.append(f"| {name} | {summary.get('cpu_ms_per_operation')} per {what} | {top} |")
        lines += ["", "Text summaries: `profiles/<run>/<profile>.summary.txt`."]
    return "\n".join(lines) + "\n"
