"""The `hookpost` command line: run the service, migrate the database, manage API keys.

Each command reads `Settings` once, applies its flags, and calls `asyncio.run` once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import socket
from collections.abc import Callable, Coroutine, Iterator
from typing import Annotated, Any, TypeVar

import typer
import uvicorn
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hookpost import __version__, logs
from hookpost.config import ConfigError, Settings
from hookpost.config_reference import environment_help, option_help
from hookpost.core.errors import ConfigurationError, Unavailable
from hookpost.core.models import ApiKey
from hookpost.delivery.event_loop import new_event_loop
from hookpost.remote import commands as remote_commands
from hookpost.runtime import Runtime, bind_listener, migrate_database, open_runtime

T = TypeVar("T")
app = typer.Typer(
    name="hookpost",
    help="Self-hosted webhook delivery, wire-compatible with the core of the Svix API.",
    no_args_is_help=True,
    add_completion=False,
)
token_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(token_app, name="token")
console = Console(stderr=True)

Host = Annotated[str | None, typer.Option(help=option_help("host"), show_default=False)]
Port = Annotated[int | None, typer.Option(help=option_help("port"), show_default=False)]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help=option_help("database_url"), show_default=False),
]


def _show_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"hookpost {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Print hookpost's version and exit.",
        ),
    ] = False,
) -> None:
    """Self-hosted webhook delivery, wire-compatible with the core of the Svix API."""


def _fail(message: str, code: int) -> typer.Exit:
    """Print a start-up problem as one line (no markup read from it, no wrapping)."""
    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    return typer.Exit(code)


def _settings(**overrides: object) -> Settings:
    try:
        return Settings.from_env().with_overrides(**overrides)
    except ConfigError as exc:
        raise _fail(f"configuration: {exc}", 2) from None


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        # uvloop: the same asyncio API with a faster loop, socket layer and timers (with
        # connects to numeric addresses kept off its thread pool: see delivery.event_loop).
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            return runner.run(work())
    except (Unavailable, ConfigurationError) as exc:
        raise _fail(exc.detail, 1) from None


def _configure_logging(settings: Settings) -> None:
    logs.configure(settings.log_level, settings.log_format)


def _freeze_startup_objects() -> None:
    """Exempt what startup built (modules, the app, compiled statements) from the garbage
    collector: a full collection walking those objects stalled the event loop for ~100 ms,
    every request of that moment waiting on it. Cycles made later are collected as usual."""
    gc.collect()
    gc.freeze()


def _announce(runtime: Runtime, token: str | None, listener: socket.socket) -> None:
    host, port = runtime.settings.host, listener.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    console.print(
        f"hookpost {__version__} on http://{shown}:{port} ({runtime.database.dialect})",
        markup=False,
    )
    if token:
        console.print(
            "\n[bold]API token (shown once, store it now):[/bold]\n"
            f"  {token}\n"
            "Use it as: Authorization: Bearer <token>\n"
        )


def _http_server(runtime: Runtime) -> uvicorn.Server:
    settings = runtime.settings
    config = uvicorn.Config(
        runtime.api(),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # its lines go through ours (hookpost.logs), text or JSON
        access_log=False,  # hookpost.api logs each request with its route template
        loop="none",
        http=runtime.http_protocol(),  # httptools, with header, time and connection limits
        timeout_keep_alive=max(1, round(settings.keep_alive_timeout)),
        timeout_graceful_shutdown=int(settings.shutdown_grace) or None,
    )
    return uvicorn.Server(config)


class _MetricsServer(uvicorn.Server):
    """The server of HOOKPOST_METRICS_PORT, on a socket bound beforehand (so a taken port is
    a configuration error, not a traceback). It is stopped with the process, never by a
    signal of its own: the API's server and the worker's drain own SIGTERM."""

    def __init__(self, config: uvicorn.Config, listener: socket.socket) -> None:
        super().__init__(config)
        self.listener = listener

    def start(self) -> asyncio.Task[None]:
        return asyncio.create_task(self.serve(sockets=[self.listener]))

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _metrics_server(runtime: Runtime) -> _MetricsServer | None:
    app = runtime.metrics_app()
    settings = runtime.settings
    if app is None or settings.metrics_port is None:
        return None
    host, port = settings.metrics_host, settings.metrics_port
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        listener = socket.create_server((host, port), family=family)
    except OSError as exc:
        raise ConfigurationError(
            f"HOOKPOST_METRICS_PORT: cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "choose a free port (each process needs its own) or unset it"
        ) from None
    config = uvicorn.Config(
        app,
        log_level=settings.log_level,
        log_config=None,  # its lines go through ours (hookpost.logs)
        access_log=False,
        loop="none",
        lifespan="off",
        http=runtime.http_protocol(),
    )
    return _MetricsServer(config, listener)


async def _serve(settings: Settings, *, with_api: bool, with_worker: bool) -> None:
    # The port first: a port in use or refused fails before the database is touched, and the
    # first-start key is made only once the socket listens, so it is never printed and lost.
    listener = bind_listener(settings) if with_api else None
    try:
        runtime = await open_runtime(settings)
    except BaseException:
        if listener is not None:
            listener.close()
        raise
    try:
        await _run_processes(runtime, listener, with_worker=with_worker)
    finally:
        await runtime.close()


async def _run_processes(
    runtime: Runtime, listener: socket.socket | None, *, with_worker: bool
) -> None:
    # The metrics port is bound before a first-start key exists: a taken port loses no key.
    metrics = _metrics_server(runtime)
    # Only a process that can print a first-start key may create one.
    token = await runtime.admit_operator() if listener is not None else None
    worker = runtime.worker(await runtime.operational_webhooks()) if with_worker else None
    server = _http_server(runtime) if listener is not None else None
    metrics_task = metrics.start() if metrics is not None else None
    worker_task = asyncio.create_task(runtime.run_worker(worker)) if worker else None
    tasks_stop = asyncio.Event()  # background tasks run in every server process
    tasks_task = asyncio.create_task(runtime.run_tasks(tasks_stop))
    _freeze_startup_objects()

    def shut_down() -> None:
        if server is not None:
            server.should_exit = True
        if worker is not None:
            worker.stop()

    # Our handlers stay installed under uvicorn's; uvicorn restores and re-raises signals
    # after its own shutdown, which then lands here instead of killing the process before
    # the worker has drained.
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, shut_down)
    try:
        if server is not None and listener is not None:
            _announce(runtime, token, listener)
            await server.serve(sockets=[listener])  # returns once SIGTERM/SIGINT arrives
            shut_down()
        else:
            console.print(f"hookpost {__version__} worker ({runtime.database.dialect})")
        if worker_task is not None:
            await worker_task
    finally:
        tasks_stop.set()
        await tasks_task
        if metrics is not None and metrics_task is not None:
            metrics.should_exit = True  # served until the worker has drained
            await metrics_task


@app.command(epilog=environment_help())
def serve(host: Host = None, port: Port = None, database_url: DatabaseUrl = None) -> None:
    """Run the API and the delivery worker in one process (SQLite by default)."""
    settings = _settings(host=host, port=port, database_url=database_url)
    _configure_logging(settings)
    _run(lambda: _serve(settings, with_api=True, with_worker=True))


@app.command(epilog=environment_help())
def api(host: Host = None, port: Port = None, database_url: DatabaseUrl = None) -> None:
    """Run only the API; workers elsewhere deliver (PostgreSQL)."""
    settings = _settings(host=host, port=port, database_url=database_url)
    _configure_logging(settings)
    _run(lambda: _serve(settings, with_api=True, with_worker=False))


@app.command(epilog=environment_help())
def worker(database_url: DatabaseUrl = None) -> None:
    """Run only a delivery worker; any number may share one PostgreSQL database."""
    settings = _settings(database_url=database_url)
    _configure_logging(settings)
    _run(lambda: _serve(settings, with_api=False, with_worker=True))


@app.command()
def migrate(database_url: DatabaseUrl = None) -> None:
    """Bring the database schema up to date (also done at every start)."""
    settings = _settings(database_url=database_url)

    revision = _run(lambda: migrate_database(settings))
    console.print(f"database schema at revision {revision}")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="What the key is for.")] = "cli",
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key for the default organization; the key is printed once."""
    settings = _settings(database_url=database_url)

    async def work() -> str:
        runtime = await open_runtime(settings)
        try:
            org = await runtime.services.access.default_organization()
            token, _ = await runtime.services.access.create_key(org.id, name)
            return token
        finally:
            await runtime.close()

    typer.echo(_run(work))


@token_app.command("list")
def token_list(database_url: DatabaseUrl = None) -> None:
    """List API keys (only their first characters are known); ids are printed whole."""
    settings = _settings(database_url=database_url)

    async def work() -> list[ApiKey]:
        runtime = await open_runtime(settings)
        try:
            return await runtime.services.access.list_keys()
        finally:
            await runtime.close()

    keys = _run(work)
    rows = [
        (
            key.id,
            key.hint + "…",
            key.name,
            key.created_at.isoformat(timespec="seconds"),
            key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "",
        )
        for key in keys
    ]
    out = Console()
    if not out.is_terminal:  # piped: one tab-separated line per key, nothing cut
        typer.echo("id\tstarts with\tname\tcreated\trevoked")
        for row in rows:
            typer.echo("\t".join(row))
        return
    # Ids are pasted into `token revoke`: their column is never wrapped or cut; the others
    # give way on a narrow terminal.
    table = Table(title=None)
    table.add_column("id", no_wrap=True, min_width=max((len(k.id) for k in keys), default=2))
    for column in ("starts with", "name", "created", "revoked"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    out.print(table)


@token_app.command("revoke")
def token_revoke(key_id: str, database_url: DatabaseUrl = None) -> None:
    """Revoke an API key by its id (see `hookpost token list`)."""
    settings = _settings(database_url=database_url)

    async def work() -> bool:
        runtime = await open_runtime(settings)
        try:
            return await runtime.services.access.revoke_key(key_id)
        finally:
            await runtime.close()

    if not _run(work):
        console.print(f"no active key with id {key_id}")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")


# Remote commands (apps, endpoints, messages, attempts, catalog, trigger, listen): HTTP only.
remote_commands.register(app)


def main() -> None:
    app()
