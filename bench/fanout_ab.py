"""Fan-out of several commits, interleaved: one message to N endpoints of one application,
delivered by `hookpost api` + workers on PostgreSQL (or `serve`), as of each commit in turn,
round after round, on a fresh database per commit and round. Reports each message's last
arrival (the figure `bench/run` gives as "fan-out to 1000 endpoints") per commit: the
instrument for a change to claims and scheduling, cheaper than a full `bench/run --code`.

    .venv/bin/python -m bench.fanout_ab --rounds 3 e54a137 HEAD

Each deployment publishes `--messages` messages one after the other to the same endpoints,
as bench/run's three rounds do: the first finds every endpoint new, the later ones find
endpoints the workers have delivered to (trusted, remembered).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
from pathlib import Path

import asyncpg

from bench import databases, hookpost_proc, phases, procs, scenario, snapshot
from bench.hookpost_proc import Deployment
from bench.phases import Stage
from bench.profiling import Profiler
from bench.publisher import Publisher
from bench.receiver import Receiver
from bench.sizes import Sizes

RESULTS = Path(__file__).resolve().parent / "results"


def _one(
    code: Path,
    settings: dict[str, str],
    args: argparse.Namespace,
    folder: Path,
    tools: tuple[Receiver, Publisher],
    n: int,
) -> list[float]:
    receiver, publisher = tools
    name = f"fan{n}"
    url = (
        databases.sqlite_url(folder, name)
        if args.backend == "sqlite"
        else databases.create_postgres(name)
    )
    hookpost_proc.CODE_PATH = str(code)
    port = receiver.listen()
    env = scenario.extra_settings() | settings
    deployment = Deployment(
        name, url, folder, kind=args.layout, workers=args.workers, env=env
    ).start()
    try:
        sizes = Sizes()
        stage = Stage(name, deployment, receiver, port, publisher, sizes, Profiler(None))
        with stage.meter() as cpu:
            result = phases.fanout(stage, rounds=args.messages)
        used = ", ".join(f"{k} {v:.2f}" for k, v in sorted(cpu.used.items()))
        print(f"  CPU seconds over the {args.messages} messages: {used}", flush=True)
    finally:
        deployment.stop()
        receiver.close(port)
    if args.backend == "postgres":
        print(f"  attempts as recorded: {_attempt_durations(url)}", flush=True)
        databases.drop_postgres(url)
    return [r["last_ms"] for r in result["rounds"]]


def _attempt_durations(url: str) -> str:
    """How long the fan-out's attempts took by hookpost's own clock (request sent to answer
    read), and how many: a slow turnover of slots shows here, not in the receiver."""

    async def read() -> str:
        conn = await asyncpg.connect(databases.asyncpg_dsn(url))
        try:
            row = await conn.fetchrow(
                "SELECT count(*) AS n,"
                " percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50,"
                " percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99,"
                " max(duration_ms) AS top FROM attempts"
            )
        finally:
            await conn.close()
        return f"{row['n']} attempts, ms p50 {row['p50']} p99 {row['p99']} max {row['top']}"

    return asyncio.run(read())


def _settings_of(ref: str) -> tuple[str, dict[str, str]]:
    """`REF+HOOKPOST_NAME=value+...`: a commit and settings for its processes alone (so a
    setting's effect is measured interleaved with the defaults)."""
    commit, *pairs = ref.split("+")
    return commit, dict(pair.split("=", 1) for pair in pairs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "refs",
        nargs="+",
        help="commits to compare (WORKTREE: the working tree; REF+HOOKPOST_NAME=value adds "
        "a setting for that one)",
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--layout", choices=("serve", "split"), default="split")
    parser.add_argument("--workers", type=int, default=2, help="worker processes when split")
    parser.add_argument("--rounds", type=int, default=3, help="deployments per commit")
    parser.add_argument("--messages", type=int, default=3, help="messages per deployment")
    parser.add_argument("--output", help="write bench/results/NAME.{json,md}")
    args = parser.parse_args()
    procs.install_signal_cleanup()
    folder = Path(tempfile.mkdtemp(prefix="hookpost-bench-fan-"))
    runs: dict[str, list[list[float]]] = {ref: [] for ref in args.refs}
    commits: dict[str, str] = {}
    settings: dict[str, dict[str, str]] = {}
    try:
        codes = {}
        for index, ref in enumerate(args.refs):
            place = folder / f"code{index}"
            place.mkdir()
            commit, settings[ref] = _settings_of(ref)
            codes[ref], about = snapshot.take(place, None if commit == "WORKTREE" else commit)
            commits[ref] = about["commit"] + (" + working tree" if commit == "WORKTREE" else "")
            commits[ref] += "".join(f", {k}={v}" for k, v in settings[ref].items())
        tools = (Receiver(), Publisher())
        n = 0
        for round_ in range(args.rounds):
            for ref in args.refs:
                last = _one(codes[ref], settings[ref], args, folder, tools, n)
                n += 1
                runs[ref].append(last)
                print(f"round {round_ + 1} {commits[ref]}: last arrival ms {last}", flush=True)
    finally:
        procs.stop_all()
        databases.drop_all()
        shutil.rmtree(folder, ignore_errors=True)
    lines = [
        f"# Fan-out A/B ({args.backend} {args.layout}, {Sizes().fanout_endpoints} endpoints, "
        f"{args.rounds} deployments x {args.messages} messages per commit, interleaved)",
        "",
        "| commit | last arrival ms, median of all | per message (first, second, ...), medians |",
        "|---|---:|---|",
    ]
    for ref in args.refs:
        every = [ms for deployment in runs[ref] for ms in deployment]
        by_message = [statistics.median(d[i] for d in runs[ref]) for i in range(args.messages)]
        lines.append(
            f"| {commits[ref]} | {statistics.median(every):,.0f} | "
            + ", ".join(f"{ms:,.0f}" for ms in by_message)
            + " |"
        )
    table = "\n".join(lines)
    print(table)
    if args.output:
        (RESULTS / f"{args.output}.json").write_text(json.dumps(runs, indent=1) + "\n")
        (RESULTS / f"{args.output}.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
