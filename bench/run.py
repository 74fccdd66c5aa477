"""The benchmark's entry point: `.venv/bin/python -m bench.run [--quick] [--profile] ...`;
measures the ceilings, then each hookpost configuration, and writes JSON and Markdown.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench import ceilings, databases, hookpost_proc, machine, procs, report, scenario, snapshot
from bench.profiling import Profiler
from bench.publisher import Publisher
from bench.receiver import Receiver
from bench.sizes import Sizes

RESULTS = Path(__file__).resolve().parent / "results"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a ~2-minute smoke run")
    parser.add_argument(
        "--profile", action="store_true", help="attach py-spy to hookpost during the phases"
    )
    parser.add_argument(
        "--only",
        default=",".join(c.name for c in scenario.CONFIGS),
        help="comma-separated configurations to run, in this order (default: all but the "
        "optional ones: " + ", ".join(c.name for c in scenario.OPTIONAL_CONFIGS) + ")",
    )
    parser.add_argument("--output", help="result file stem in bench/results (default by mode)")
    parser.add_argument(
        "--code",
        metavar="REF",
        help="measure hookpost as of this git commit (default: the working tree)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    return parser.parse_args(argv)


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _own_cpu() -> float:
    """CPU seconds of this process and of every child it has waited for."""
    times = psutil.Process().cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def _cpu_split(before: Any, own_before: float, wall: float) -> dict[str, float]:
    """Machine-wide busy CPU over the run, the benchmark's share (its processes, hookpost's)
    and the rest (PostgreSQL, and anything else running on the machine)."""
    after = psutil.cpu_times()
    busy = sum(after) - sum(before) - (after.idle - before.idle) - (after.iowait - before.iowait)
    own = _own_cpu() - own_before
    return {
        "wall_seconds": wall,
        "machine_busy_cpu_seconds": round(busy, 1),
        "benchmark_processes_cpu_seconds": round(own, 1),
        "postgres_and_other_cpu_seconds": round(busy - own, 1),
    }


def _remove_stale_folders() -> None:
    """Temporary folders of killed runs (named after their pid) are removed."""
    for path in Path(tempfile.gettempdir()).glob("hookpost-bench-*-*"):
        pid = path.name.split("-")[2]
        if pid.isdigit() and not procs.pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    sizes = Sizes.quick() if args.quick else Sizes()
    mode = "quick" if args.quick else "full"
    stem = args.output or ("profiled" if args.profile else "latest" if mode == "full" else mode)
    known = {c.name: c for c in (*scenario.CONFIGS, *scenario.OPTIONAL_CONFIGS)}
    unknown = [name for name in args.only.split(",") if name not in known]
    if unknown:
        raise SystemExit(f"unknown configuration(s): {', '.join(unknown)}")
    configs = [known[name] for name in dict.fromkeys(args.only.split(","))]
    backends = sorted({c.backend for c in configs}, reverse=True)
    for stale in databases.drop_stale():
        say(f"dropped database {stale} left by a killed run")
    _remove_stale_folders()
    folder = Path(tempfile.mkdtemp(prefix=f"hookpost-bench-{os.getpid()}-"))
    profiler = Profiler(RESULTS / "profiles" / stem if args.profile else None)
    if args.profile:
        (RESULTS / "profiles" / stem).mkdir(parents=True, exist_ok=True)
    procs.install_signal_cleanup()
    started = time.monotonic()
    machine_before, own_before = psutil.cpu_times(), _own_cpu()
    results: dict[str, Any] = {
        "mode": mode,
        "profiled": args.profile,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "sizes": dataclasses.asdict(sizes),
        "machine": machine.describe(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        code_path, results["code"] = snapshot.take(folder, args.code)
        results["code"]["settings"] = scenario.extra_settings()
        hookpost_proc.CODE_PATH = str(code_path)
        receiver, publisher = Receiver(), Publisher()
        say(f"ceilings ({', '.join(backends)})")
        results["ceilings"] = ceilings.measure_all(receiver, publisher, sizes, folder, backends)
        results["hookpost"] = {}
        for config in configs:
            results["hookpost"][config.name] = scenario.run(
                config, receiver, publisher, sizes, folder, profiler, say
            )
    finally:
        procs.stop_all()
        databases.drop_all()
        if args.keep:
            say(f"logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    results["seconds"] = round(time.monotonic() - started, 1)
    results["load_after"] = [round(x, 2) for x in os.getloadavg()]
    results["cpu_during_run"] = _cpu_split(machine_before, own_before, results["seconds"])
    results["profiles"] = profiler.summaries
    report.add_ratios(results)
    as_json, as_md = report.write(results, RESULTS, stem)
    say(f"done in {results['seconds']:.0f} s: {as_json} and {as_md}")
    print(as_md.read_text())
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
