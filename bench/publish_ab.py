"""Publish cost of several commits, interleaved: `hookpost api` alone (no worker), as of each
commit, takes the same SDK-style burst in turn, round after round, so a slow minute of the
machine falls on every commit alike. Reports publishes/s and CPU ms per publish (hookpost's
process, and PostgreSQL's backends) per commit: the instrument for bisecting a publish
regression, cheaper than a full `bench/run --code` per commit.

    .venv/bin/python -m bench.publish_ab --backend postgres --rounds 3 e54a137 HEAD
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench import databases, hookpost_proc, phases, procs, scenario, snapshot
from bench.hookpost_proc import Deployment
from bench.phases import Stage
from bench.profiling import Profiler
from bench.publisher import Publisher
from bench.receiver import Receiver
from bench.sizes import Sizes

RESULTS = Path(__file__).resolve().parent / "results"


def _one(
    ref: str, code: Path, backend: str, folder: Path, tools: tuple[Receiver, Publisher], n: int
) -> dict[str, Any]:
    receiver, publisher = tools
    name = f"ab{n}"
    url = (
        databases.sqlite_url(folder, name)
        if backend == "sqlite"
        else databases.create_postgres(name)
    )
    hookpost_proc.CODE_PATH = str(code)
    port = receiver.listen()
    api = Deployment(name, url, folder, kind="api", env=scenario.extra_settings()).start()
    try:
        stage = Stage(name, api, receiver, port, publisher, Sizes(), Profiler(None))
        result = phases.publish_only(stage)
    finally:
        api.stop()
        receiver.close(port)
        if backend == "postgres":
            databases.drop_postgres(url)
    accepted = result["accepted"]
    postgres = result["cpu_seconds"].get("postgres")
    return {
        "ref": ref,
        "rate": result["rate"],
        "hookpost_ms": result["hookpost_cpu_ms_per_op"],
        "postgres_ms": round(postgres * 1000 / accepted, 3) if postgres and accepted else None,
    }


def _table(runs: list[dict[str, Any]], refs: list[str], commits: dict[str, str]) -> str:
    lines = [
        "| commit | publishes/s (median) | hookpost CPU ms/publish | PostgreSQL CPU ms/publish |",
        "|---|---:|---:|---:|",
    ]
    for ref in refs:
        mine = [r for r in runs if r["ref"] == ref]
        rate = statistics.median(r["rate"] for r in mine)
        cpu = statistics.median(r["hookpost_ms"] for r in mine)
        pg = [r["postgres_ms"] for r in mine if r["postgres_ms"] is not None]
        pg_text = f"{statistics.median(pg):.3f}" if pg else "–"
        each = " ".join(f"{r['hookpost_ms']:.3f}" for r in mine)
        lines.append(f"| {commits[ref]} | {rate:,.0f} | {cpu:.3f} ({each}) | {pg_text} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("refs", nargs="+", help="commits to compare (WORKTREE: the working tree)")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", help="write bench/results/NAME.{json,md}")
    args = parser.parse_args()
    procs.install_signal_cleanup()
    folder = Path(tempfile.mkdtemp(prefix="hookpost-bench-ab-"))
    runs: list[dict[str, Any]] = []
    commits: dict[str, str] = {}
    try:
        codes = {}
        for index, ref in enumerate(args.refs):
            place = folder / f"code{index}"
            place.mkdir()
            codes[ref], about = snapshot.take(place, None if ref == "WORKTREE" else ref)
            commits[ref] = about["commit"] + (" + working tree" if ref == "WORKTREE" else "")
        tools = (Receiver(), Publisher())
        for round_ in range(args.rounds):
            for ref in args.refs:
                run = _one(ref, codes[ref], args.backend, folder, tools, len(runs))
                runs.append(run)
                print(f"round {round_ + 1} {commits[ref]}: {run}", flush=True)
    finally:
        procs.stop_all()
        databases.drop_all()
        shutil.rmtree(folder, ignore_errors=True)
    table = _table(runs, args.refs, commits)
    print(table)
    if args.output:
        (RESULTS / f"{args.output}.json").write_text(json.dumps(runs, indent=1) + "\n")
        (RESULTS / f"{args.output}.md").write_text(
            f"# Publish A/B ({args.backend}, {args.rounds} rounds, interleaved)\n\n{table}\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
