"""The remote commands: list and show API objects, trigger and listen, import and export
the event catalog. Tables for lists (rich), JSON for one object.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from hookpost.core.event_catalog import (
    CatalogEntry,
    CatalogError,
    example_of,
    from_catalog,
    to_catalog,
    to_openapi,
)
from hookpost.core.fields import EventTypeFields
from hookpost.remote.catalog_files import is_openapi, read_document, render
from hookpost.remote.connection import DEFAULT_SERVER, Connection, RemoteError, call, pages

out = Console(soft_wrap=True)
err = Console(stderr=True)

# No square brackets in help texts: Typer reads them as Rich markup and drops them.
Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        help=f"API base URL; else HOOKPOST_SERVER_URL, the config file, or {DEFAULT_SERVER}.",
    ),
]
Token = Annotated[
    str | None,
    typer.Option("--token", help="API token; else HOOKPOST_API_TOKEN or the config file."),
]
AppRef = Annotated[str, typer.Option("--app", help="Application id or uid.")]
Limit = Annotated[int, typer.Option(help="How many to list at most.")]


def _connect(server: str | None, token: str | None) -> Connection:
    try:
        return Connection.resolve(server, token)
    except RemoteError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]{exc}[/red]")
    return typer.Exit(1)


def _show(obj: Any) -> None:
    out.print_json(json.dumps(obj))


def _table(columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    out.print(table)


apps_cli = typer.Typer(help="Applications.", no_args_is_help=True)
endpoints_cli = typer.Typer(help="Endpoints of an application.", no_args_is_help=True)
messages_cli = typer.Typer(help="Messages of an application.", no_args_is_help=True)
attempts_cli = typer.Typer(help="Delivery attempts.", no_args_is_help=True)
catalog_cli = typer.Typer(help="The event catalog (event types).", no_args_is_help=True)


def _get(path: str, server: str | None, token: str | None, params: Any = None) -> Any:
    with _connect(server, token).client() as client:
        try:
            return call(client, "GET", path, params=params)
        except RemoteError as exc:
            raise _fail(exc) from None


def _list(path: str, server: str | None, token: str | None, limit: int, **params: Any) -> Any:
    with _connect(server, token).client() as client:
        try:
            return pages(client, path, {k: v for k, v in params.items() if v}, limit)
        except RemoteError as exc:
            raise _fail(exc) from None


@apps_cli.command("list")
def apps_list(server: Server = None, token: Token = None, limit: Limit = 50) -> None:
    """List applications as a table."""
    items = _list("/api/v1/app", server, token, limit)
    _table(
        ["id", "uid", "name", "created"],
        [[a["id"], a.get("uid"), a["name"], a["createdAt"]] for a in items],
    )


@apps_cli.command("get")
def apps_get(app: str, server: Server = None, token: Token = None) -> None:
    """Show one application as JSON."""
    _show(_get(f"/api/v1/app/{app}", server, token))


@endpoints_cli.command("list")
def endpoints_list(
    app: AppRef, server: Server = None, token: Token = None, limit: Limit = 50
) -> None:
    """List an application's endpoints as a table."""
    items = _list(f"/api/v1/app/{app}/endpoint", server, token, limit)
    rows = [
        [e["id"], e.get("uid"), e["url"], e.get("disabled"), ",".join(e.get("filterTypes") or [])]
        for e in items
    ]
    _table(["id", "uid", "url", "disabled", "event types"], rows)


@endpoints_cli.command("get")
def endpoints_get(endpoint: str, app: AppRef, server: Server = None, token: Token = None) -> None:
    """Show one endpoint as JSON."""
    _show(_get(f"/api/v1/app/{app}/endpoint/{endpoint}", server, token))


@messages_cli.command("list")
def messages_list(
    app: AppRef,
    server: Server = None,
    token: Token = None,
    limit: Limit = 50,
    event_type: Annotated[str | None, typer.Option(help="Only this event type.")] = None,
) -> None:
    """List an application's messages (newest first) as a table."""
    items = _list(
        f"/api/v1/app/{app}/msg", server, token, limit, event_types=event_type, with_content=False
    )
    rows = [
        [m["id"], m["eventType"], ",".join(m.get("channels") or []), m["timestamp"]] for m in items
    ]
    _table(["id", "event type", "channels", "created"], rows)


@messages_cli.command("get")
def messages_get(message: str, app: AppRef, server: Server = None, token: Token = None) -> None:
    """Show one message (with its payload) as JSON."""
    _show(_get(f"/api/v1/app/{app}/msg/{message}", server, token))


@attempts_cli.command("list")
def attempts_list(
    app: AppRef,
    server: Server = None,
    token: Token = None,
    limit: Limit = 50,
    message: Annotated[str | None, typer.Option("--msg", help="Attempts of this message.")] = None,
    endpoint: Annotated[str | None, typer.Option(help="Attempts to this endpoint.")] = None,
) -> None:
    """List delivery attempts of a message or to an endpoint as a table."""
    if (message is None) == (endpoint is None):
        err.print("[red]give exactly one of --msg and --endpoint[/red]")
        raise typer.Exit(2)
    path = (
        f"/api/v1/app/{app}/attempt/msg/{message}"
        if message
        else f"/api/v1/app/{app}/attempt/endpoint/{endpoint}"
    )
    items = _list(path, server, token, limit)
    rows = [
        [a["id"], a["msgId"], a["endpointId"], a["responseStatusCode"], a["status"], a["timestamp"]]
        for a in items
    ]
    _table(["id", "message", "endpoint", "HTTP", "status", "when"], rows)


@attempts_cli.command("get")
def attempts_get(
    attempt: str,
    app: AppRef,
    message: Annotated[str, typer.Option("--msg", help="The attempt's message.")],
    server: Server = None,
    token: Token = None,
) -> None:
    """Show one attempt as JSON."""
    _show(_get(f"/api/v1/app/{app}/msg/{message}/attempt/{attempt}", server, token))


def _entry(item: dict[str, Any]) -> CatalogEntry:
    fields = EventTypeFields(
        description=item.get("description", ""),
        deprecated=bool(item.get("deprecated")),
        schemas=item.get("schemas"),
        feature_flags=tuple(item.get("featureFlags") or ()) or None,
        group_name=item.get("groupName"),
    )
    return CatalogEntry(item["name"], fields)


@catalog_cli.command("export")
def catalog_export(
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write to this file (default: standard output)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="yaml, json or openapi.")] = "yaml",
    server: Server = None,
    token: Token = None,
) -> None:
    """Write the event catalog as a catalog file (YAML/JSON) or an OpenAPI document."""
    if fmt not in {"yaml", "json", "openapi"}:
        err.print("[red]--format is yaml, json or openapi[/red]")
        raise typer.Exit(2)
    items = _list("/api/v1/event-type", server, token, 100_000, with_content=True)
    entries = [_entry(item) for item in items]
    document = to_openapi(entries) if fmt == "openapi" else to_catalog(entries)
    text = render(document, "json" if fmt == "json" else "yaml")
    if output is None:
        out.out(text, end="", highlight=False)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {len(entries)} event types to {output}")


@catalog_cli.command("import")
def catalog_import(
    file: Annotated[Path, typer.Argument(help="A catalog file or an OpenAPI document.")],
    server: Server = None,
    token: Token = None,
) -> None:
    """Create or update the event types of a catalog file or an OpenAPI `webhooks` section."""
    try:
        document = read_document(file)
        with _connect(server, token).client() as client:
            if is_openapi(document):
                body = {"spec": document}
                result = call(client, "POST", "/api/v1/event-type/import/openapi", json=body)
                names = result["data"]["modified"]
            else:
                names = _put_all(client, from_catalog(document))
    except (RemoteError, CatalogError) as exc:
        raise _fail(exc) from None
    err.print(f"imported {len(names)} event types from {file}")


def _put_all(client: Any, entries: list[CatalogEntry]) -> list[str]:
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("importing", total=len(entries))
        for entry in entries:
            f = entry.fields
            body = {
                "description": f.description,
                "deprecated": f.deprecated,
                "archived": False,
                "schemas": f.schemas,
                "groupName": f.group_name,
                "featureFlags": list(f.feature_flags) if f.feature_flags else None,
            }
            call(client, "PUT", f"/api/v1/event-type/{entry.name}", json=body)
            progress.advance(task)
    return [entry.name for entry in entries]


def trigger(
    event_type: Annotated[str, typer.Argument(help="The event type to publish.")],
    app: AppRef,
    channel: Annotated[list[str] | None, typer.Option(help="A channel (repeatable).")] = None,
    server: Server = None,
    token: Token = None,
) -> None:
    """Publish the event type's example payload (from its schema's `examples`)."""
    with _connect(server, token).client() as client:
        try:
            found = call(client, "GET", f"/api/v1/event-type/{event_type}")
            payload = example_of(found.get("schemas"))
            if not isinstance(payload, dict):
                raise RemoteError(
                    f"event type {event_type} has no example payload: add one to its schema's"
                    " `examples` (hookpost catalog import)"
                )
            body: dict[str, Any] = {"eventType": event_type, "payload": payload}
            if channel:
                body["channels"] = channel
            sent = call(client, "POST", f"/api/v1/app/{app}/msg", json=body)
        except RemoteError as exc:
            raise _fail(exc) from None
    out.print(f"published {sent['id']} ({event_type}) to {app}", highlight=False)


def listen(
    app: AppRef,
    forward_to: Annotated[str, typer.Option(help="Local URL that receives each message.")],
    event_type: Annotated[str | None, typer.Option(help="Only this event type.")] = None,
    channel: Annotated[str | None, typer.Option(help="Only this channel.")] = None,
    secret: Annotated[str | None, typer.Option(help="Sign with this whsec_ secret.")] = None,
    server: Server = None,
    token: Token = None,
) -> None:
    """Forward an application's messages, re-signed with a local secret, to a local URL."""
    # Imported here: the listener needs httpx and the receiver library, which no other
    # command (`serve` least of all) should carry.
    from hookpost.remote.listen import Listener, new_secret  # noqa: PLC0415

    connection = _connect(server, token)
    key = secret or new_secret()
    listener = Listener(
        connection,
        app,
        forward_to,
        secret=key,
        event_type=event_type,
        channel=channel,
        say=lambda line: out.print(line, highlight=False),
        on_connected=lambda after: out.print(
            f"Connected to {connection.server_url}, forwarding {app} to {forward_to}"
            + (f" (resuming after {after})" if after else ""),
            highlight=False,
        ),
    )
    out.print(f"Webhook signing secret: {key}  (verify forwarded requests with it)")
    signal.signal(signal.SIGTERM, _interrupt)  # stop at once, even while waiting on the stream
    try:
        listener.run()
    except RemoteError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:
        pass


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def register(app: typer.Typer) -> None:
    """Add the remote commands to the `hookpost` command line."""
    app.add_typer(apps_cli, name="apps")
    app.add_typer(endpoints_cli, name="endpoints")
    app.add_typer(messages_cli, name="messages")
    app.add_typer(attempts_cli, name="attempts")
    app.add_typer(catalog_cli, name="catalog")
    app.command()(trigger)
    app.command()(listen)
