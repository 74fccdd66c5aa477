"""The `hookpost` command line: run the service, migrate the database, manage API keys.

Each command reads `Settings` once, applies its flags, and calls `asyncio.run` once.
"""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from hookpost import __version__, logs
from hookpost.config import ConfigError, Settings
from hookpost.config_reference import environment_help, option_default, option_help
from hookpost.core.errors import ConfigurationError, Unavailable
from hookpost.delivery.event_loop import new_event_loop
from hookpost.remote import commands as remote_commands
from hookpost.runtime import Runtime, migrate_database, open_runtime

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

Host = Annotated[
    str | None, typer.Option(help=option_help("host"), show_default=option_default("host"))
]
Port = Annotated[
    int | None, typer.Option(help=option_help("port"), show_default=option_default("port"))
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help=option_help("database_url"),
        show_default=option_default("database_url"),
    ),
]


def _settings(**overrides: object) -> Settings:
    try:
        return Settings.from_env().with_overrides(**overrides)
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        # uvloop: the same asyncio API with a faster loop, socket layer and timers (with
        # connects to numeric addresses kept off its thread pool: see delivery.event_loop).
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            return runner.run(work())
    except (Unavailable, ConfigurationError) as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None


def _configure_logging(settings: Settings) -> None:
    logs.configure(settings.log_level, settings.log_format)


def _freeze_startup_objects() -> None:
    """Exempt what startup built (modules, the app, compiled statements) from the garbage
    collector: a full collection walking those objects stalled the event loop for ~100 ms,
    every request of that moment waiting on it. Cycles made later are collected as usual."""
    gc.collect()
    gc.freeze()


def _announce(runtime: Runtime, token: str | None, host: str, port: int) -> None:
    console.print(f"hookpost {__version__} on http://{host}:{port} ({runtime.database.dialect})")
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


async def _serve(settings: Settings, *, with_api: bool, with_worker: bool) -> None:
    runtime = await open_runtime(settings)
    # Only a process that can print a first-start key may create one.
    token = await runtime.admit_operator() if with_api else None
    worker = runtime.worker(await runtime.operational_webhooks()) if with_worker else None
    worker_task = asyncio.create_task(runtime.run_worker(worker)) if worker else None
    server = _http_server(runtime) if with_api else None
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
        if server is not None:
            _announce(runtime, token, settings.host, settings.port)
            await server.serve()  # returns once SIGTERM/SIGINT arrives
            shut_down()
        else:
            console.print(f"hookpost {__version__} worker ({runtime.database.dialect})")
        if worker_task is not None:
            await worker_task
    finally:
        await runtime.close()


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
    """List API keys (only their first characters are known)."""
    settings = _settings(database_url=database_url)

    async def work() -> Table:
        runtime = await open_runtime(settings)
        try:
            keys = await runtime.services.access.list_keys()
        finally:
            await runtime.close()
        table = Table("id", "starts with", "name", "created", "revoked")
        for key in keys:
            revoked = key.revoked_at.isoformat() if key.revoked_at else ""
            table.add_row(key.id, key.hint + "…", key.name, key.created_at.isoformat(), revoked)
        return table

    Console().print(_run(work))


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
