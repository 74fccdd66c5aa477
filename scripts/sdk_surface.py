#!/usr/bin/env python3
"""The SDK surface table: every public method of `svix.api.Svix` called against hookpost.

Each method is called once, in a scenario that gives it real objects to work on (an
application, an endpoint pointing at a receiver on 127.0.0.1, a delivered message, ...), and
classified:

- **works**: the call returned and the SDK parsed the answer into its model;
- **501**: the answer was `501 {"code": "not_implemented"}` and the method belongs to a family
  listed in `OUT_OF_SCOPE` with its reason;
- **wrong**: anything else (an error answer, an unparseable body, a 501 not documented as out
  of scope). `tests/test_sdk_surface.py` fails on any "wrong".

Usage (from the repository root):

    .venv/bin/python scripts/sdk_surface.py            # print the table
    .venv/bin/python scripts/sdk_surface.py --write    # and write it into docs/api.md

It starts `hookpost serve` on a new SQLite file and a receiver, both on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import svix.api as s  # noqa: E402
from svix.api import Svix, SvixOptions  # noqa: E402
from svix.api.common import ApiBaseSync  # noqa: E402
from svix.exceptions import HttpError  # noqa: E402

from tests.support.receiver import Receiver  # noqa: E402
from tests.support.server import TOKEN, ServerProcess  # noqa: E402

DOC = ROOT / "docs" / "api.md"
BEGIN = "<!-- sdk-surface:begin (scripts/sdk_surface.py --write) -->"
END = "<!-- sdk-surface:end -->"
SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"  # noqa: S105 - a test secret
OPENAPI_WEBHOOKS: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "surface", "version": "1"},
    "webhooks": {
        "surface.imported": {
            "post": {
                "description": "imported by the SDK surface survey",
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
            }
        }
    },
}

# Method-name prefixes that may answer 501, and why hookpost leaves them out.
OUT_OF_SCOPE: dict[str, str] = {
    "authentication.get_stream_poller_token": "Svix's Stream product (see `streaming.`)",
    "authentication.rotate_stream_poller_token": "Svix's Stream product (see `streaming.`)",
    "authentication.stream_": "Svix's Stream product (see `streaming.`)",
    "autoconfig_subscription.": "Svix's hosted autoconfiguration; it needs Svix's cloud UI",
    "connector.": "Svix's connector catalogue (cloud templates and JS transformations)",
    "destination.": "Svix's sinks to queues and warehouses (SQS, Kafka, S3...): a separate cloud "
    "product",
    "endpoint.transformation": "JavaScript transformations run inside Svix's cloud; hookpost "
    "runs no customer code",
    "environment.": "export and import of a whole environment: an admin convenience not built",
    "ingest.": "Svix Ingest (receiving webhooks from third parties): a separate product",
    "integration.": "Svix's integrations (per-app keys for third-party tools): a cloud feature",
    "streaming.": "Svix's Stream product (`/api/v1/stream`); hookpost's own live stream is per "
    "application (`GET /app/{app}/stream`)",
}


@dataclass(frozen=True)
class Result:
    method: str
    verdict: str  # works | 501 | wrong
    note: str = ""


def public_methods(svix: Svix) -> Iterator[tuple[str, Callable[..., Any]]]:
    """(dotted name, bound method) of every public method, sub-resources included."""

    def walk(obj: Any, prefix: str) -> Iterator[tuple[str, Callable[..., Any]]]:
        for name in sorted(dir(type(obj))):
            if name.startswith("_"):
                continue
            attr = getattr(type(obj), name)
            if isinstance(attr, property):
                child = getattr(obj, name)
                if isinstance(child, ApiBaseSync):
                    yield from walk(child, f"{prefix}{name}.")
            elif callable(attr):
                yield f"{prefix}{name}", getattr(obj, name)

    yield from walk(svix, "")


def out_of_scope(method: str) -> str | None:
    for prefix, reason in OUT_OF_SCOPE.items():
        if method.startswith(prefix):
            return reason
    return None


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def wait(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    pause = 0.01
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Scenario:
    """The calls of the methods hookpost implements, in an order that gives each its objects."""

    def __init__(self, server_url: str, token: str, receiver_url: str) -> None:
        self.server_url = server_url
        self.svix = client(server_url, token)
        self.url = f"{receiver_url}/surface"
        self.ids: dict[str, str] = {}

    def as_portal(self, token: str) -> Svix:
        """A client holding an app-portal token (what `logout` ends)."""
        return client(self.server_url, token)

    def logout(self, app: str) -> None:
        """End an app-portal token's session (`logout` is called with that token)."""
        access = self.svix.authentication.app_portal_access(app, s.AppPortalAccessIn())
        self.as_portal(access.token).authentication.logout()

    def calls(self) -> dict[str, Callable[[], Any]]:
        x, i = self.svix, self.ids
        since = datetime.now(UTC) - timedelta(hours=1)
        event_type = unique("surface").replace("-", ".")

        def remember(key: str, value: Any) -> Any:
            i[key] = value.id
            return value

        def attempt_id() -> str:
            page = wait(
                lambda: x.message_attempt.list_by_msg(i["app"], i["msg"]).data,
                "the message's first attempt",
            )
            return str(page[0].id)

        c: dict[str, Callable[[], Any]] = {
            "health.get": x.health.get,
            "event_type.create": lambda: x.event_type.create(
                s.EventTypeIn(name=event_type, description="surface")
            ),
            "event_type.get": lambda: x.event_type.get(event_type),
            "event_type.list": x.event_type.list,
            "event_type.patch": lambda: x.event_type.patch(
                event_type, s.EventTypePatch(description="patched")
            ),
            "event_type.upsert": lambda: x.event_type.upsert(
                event_type, s.EventTypeUpsertIn(description="upserted")
            ),
            "event_type.import_openapi": lambda: x.event_type.import_openapi(
                s.EventTypeImportOpenApiIn(spec=OPENAPI_WEBHOOKS)
            ),
            "application.create": lambda: remember(
                "app", x.application.create(s.ApplicationIn(name="surface", uid=unique("app")))
            ),
            "application.get_or_create": lambda: x.application.get_or_create(
                s.ApplicationIn(name="surface", uid=unique("app"))
            ),
            "application.get": lambda: x.application.get(i["app"]),
            "application.list": x.application.list,
            "application.patch": lambda: x.application.patch(
                i["app"], s.ApplicationPatch(name="patched")
            ),
            "application.upsert": lambda: x.application.upsert(
                unique("app"), s.ApplicationIn(name="upserted")
            ),
            "endpoint.create": lambda: remember(
                "ep",
                x.endpoint.create(
                    i["app"], s.EndpointIn(url=self.url, secret=SECRET, uid=unique("ep"))
                ),
            ),
            "endpoint.get": lambda: x.endpoint.get(i["app"], i["ep"]),
            "endpoint.list": lambda: x.endpoint.list(i["app"]),
            "endpoint.patch": lambda: x.endpoint.patch(
                i["app"], i["ep"], s.EndpointPatch(description="patched")
            ),
            "endpoint.upsert": lambda: x.endpoint.upsert(
                i["app"], i["ep"], s.EndpointUpsertIn(url=self.url, description="upserted")
            ),
            "endpoint.get_secret": lambda: x.endpoint.get_secret(i["app"], i["ep"]),
            "endpoint.rotate_secret": lambda: x.endpoint.rotate_secret(
                i["app"], i["ep"], s.EndpointSecretRotateIn()
            ),
            "endpoint.get_headers": lambda: x.endpoint.get_headers(i["app"], i["ep"]),
            "endpoint.set_headers": lambda: x.endpoint.set_headers(
                i["app"], i["ep"], s.EndpointHeadersIn(headers={"x-surface": "1"})
            ),
            "endpoint.patch_headers": lambda: x.endpoint.patch_headers(
                i["app"], i["ep"], s.EndpointHeadersPatchIn(headers={"x-more": "2"})
            ),
            "message.create": lambda: remember(
                "msg",
                x.message.create(i["app"], s.MessageIn(event_type=event_type, payload={"a": 1})),
            ),
            "message.get": lambda: x.message.get(i["app"], i["msg"]),
            "message.list": lambda: x.message.list(i["app"]),
            "message.precheck": lambda: x.message.precheck(
                i["app"], s.MessagePrecheckIn(event_type=event_type)
            ),
            "message_attempt.list_by_msg": lambda: x.message_attempt.list_by_msg(
                i["app"], i["msg"]
            ),
            "message_attempt.get": lambda: x.message_attempt.get(i["app"], i["msg"], attempt_id()),
            "message_attempt.list_by_endpoint": lambda: x.message_attempt.list_by_endpoint(
                i["app"], i["ep"]
            ),
            "message_attempt.list_attempted_destinations": lambda: (
                x.message_attempt.list_attempted_destinations(i["app"], i["msg"])
            ),
            "message_attempt.list_attempted_messages": lambda: (
                x.message_attempt.list_attempted_messages(i["app"], i["ep"])
            ),
            "message_attempt.resend": lambda: x.message_attempt.resend(i["app"], i["msg"], i["ep"]),
            "message_attempt.expunge_content": lambda: x.message_attempt.expunge_content(
                i["app"], i["msg"], attempt_id()
            ),
            "message.poller.poll": lambda: x.message.poller.poll(i["app"], i["ep"]),
            "message.poller.consumer_poll": lambda: x.message.poller.consumer_poll(
                i["app"], i["ep"], "surface"
            ),
            "message.poller.consumer_seek": lambda: x.message.poller.consumer_seek(
                i["app"], i["ep"], "surface", s.PollingEndpointConsumerSeekIn(after=since)
            ),
            "endpoint.get_stats": lambda: x.endpoint.get_stats(i["app"], i["ep"]),
            "endpoint.get_attempt_stats": lambda: x.endpoint.get_attempt_stats(i["app"], i["ep"]),
            "endpoint.send_example": lambda: x.endpoint.send_example(
                i["app"], i["ep"], s.EventExampleIn(event_type="svix.ping")
            ),
            "endpoint.recover": lambda: remember(
                "task", x.endpoint.recover(i["app"], i["ep"], s.RecoverIn(since=since))
            ),
            "endpoint.replay_missing": lambda: x.endpoint.replay_missing(
                i["app"], i["ep"], s.ReplayIn(since=since)
            ),
            "endpoint.bulk_replay": lambda: x.endpoint.bulk_replay(
                i["app"], i["ep"], s.BulkReplayIn(since=since)
            ),
            "background_task.get": lambda: x.background_task.get(i["task"]),
            "background_task.list": x.background_task.list,
            "statistics.aggregate_app_stats": lambda: x.statistics.aggregate_app_stats(
                s.AppUsageStatsIn(since=since, until=datetime.now(UTC))
            ),
            "statistics.aggregate_event_types": x.statistics.aggregate_event_types,
            "operational_webhook.endpoint.create": lambda: remember(
                "op",
                x.operational_webhook.endpoint.create(
                    s.OperationalWebhookEndpointIn(url=self.url, secret=SECRET)
                ),
            ),
            "operational_webhook.endpoint.get": lambda: x.operational_webhook.endpoint.get(i["op"]),
            "operational_webhook.endpoint.list": x.operational_webhook.endpoint.list,
            "operational_webhook.endpoint.upsert": lambda: x.operational_webhook.endpoint.upsert(
                i["op"], s.OperationalWebhookEndpointUpsertIn(url=self.url)
            ),
            "operational_webhook.endpoint.get_secret": lambda: (
                x.operational_webhook.endpoint.get_secret(i["op"])
            ),
            "operational_webhook.endpoint.rotate_secret": lambda: (
                x.operational_webhook.endpoint.rotate_secret(
                    i["op"], s.OperationalWebhookEndpointSecretIn()
                )
            ),
            "operational_webhook.endpoint.get_headers": lambda: (
                x.operational_webhook.endpoint.get_headers(i["op"])
            ),
            "operational_webhook.endpoint.set_headers": lambda: (
                x.operational_webhook.endpoint.set_headers(
                    i["op"], s.OperationalWebhookEndpointHeadersIn(headers={"x-ops": "1"})
                )
            ),
            "operational_webhook.endpoint.delete": lambda: x.operational_webhook.endpoint.delete(
                i["op"]
            ),
            "authentication.app_portal_access": lambda: x.authentication.app_portal_access(
                i["app"], s.AppPortalAccessIn()
            ),
            "authentication.logout": lambda: self.logout(i["app"]),
            "authentication.expire_all": lambda: x.authentication.expire_all(
                i["app"], s.ApplicationTokenExpireIn()
            ),
            "message.bulk_expunge_content": lambda: x.message.bulk_expunge_content(
                i["app"], s.BulkExpungeContentsIn(ids=[i["msg"]])
            ),
            "message.expunge_content": lambda: x.message.expunge_content(i["app"], i["msg"]),
            "message.expunge_all_contents": lambda: x.message.expunge_all_contents(i["app"]),
            "endpoint.delete": lambda: x.endpoint.delete(i["app"], i["ep"]),
            "application.delete": lambda: x.application.delete(i["app"]),
            "event_type.delete": lambda: x.event_type.delete(event_type),
        }
        return c


def generic_call(method: Callable[..., Any]) -> Any:
    """Call a method hookpost leaves out with placeholder ids and empty bodies."""
    args: list[Any] = []
    for param in inspect.signature(method).parameters.values():
        if param.default is not inspect.Parameter.empty:
            continue
        annotation = param.annotation
        model = getattr(s, str(annotation).rsplit(".", 1)[-1], None) if annotation else None
        if isinstance(annotation, type) and hasattr(annotation, "model_construct"):
            args.append(annotation.model_construct())
        elif model is not None and hasattr(model, "model_construct"):
            args.append(model.model_construct())
        else:
            args.append("surface-placeholder")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # transformation_partial_update
        return method(*args)


def classify(method: str, call: Callable[[], Any]) -> Result:
    try:
        call()
    except HttpError as error:
        body = error.to_dict() if hasattr(error, "to_dict") else {}
        code = body.get("code") if isinstance(body, dict) else None
        if error.status_code == 501 and code == "not_implemented":
            if out_of_scope(method) is not None:
                return Result(method, "501")
            return Result(method, "wrong", "501, but not documented as out of scope")
        return Result(method, "wrong", f"HTTP {error.status_code} {code or ''}".strip())
    except Exception as error:
        return Result(method, "wrong", f"{type(error).__name__}: {str(error)[:120]}")
    return Result(method, "works")


def client(server_url: str, token: str) -> Svix:
    """The official client, without its own retries so that failures surface."""
    return Svix(token, SvixOptions(server_url=server_url, retry_schedule=[]))


def survey(server_url: str, token: str, receiver_url: str) -> list[Result]:
    """Call every public method once; the scenario's calls first, in its order."""
    methods = dict(public_methods(client(server_url, token)))
    scenario = Scenario(server_url, token, receiver_url).calls()
    unknown = sorted(set(scenario) - set(methods))
    if unknown:
        raise AssertionError(f"the scenario names methods the SDK lacks: {unknown}")
    results = {name: classify(name, call) for name, call in scenario.items()}
    for name, method in methods.items():
        if name not in results:
            results[name] = classify(name, lambda method=method: generic_call(method))
    return [results[name] for name in sorted(results)]


def render(results: list[Result], sdk_version: str) -> str:
    counts = {v: sum(r.verdict == v for r in results) for v in ("works", "501", "wrong")}
    lines = [
        f"`svix` Python SDK {sdk_version}: {len(results)} public methods of `svix.api.Svix`, "
        f"{counts['works']} work, {counts['501']} answer a clear 501, {counts['wrong']} wrong.",
        "",
        "| method | result |",
        "|---|---|",
    ]
    lines += [
        f"| `{r.method}` | {r.verdict}{' (' + r.note + ')' if r.note else ''} |" for r in results
    ]
    lines += ["", "Out of scope (each answers `501 not_implemented`):", ""]
    lines += [f"- `{prefix}*`: {reason}" for prefix, reason in OUT_OF_SCOPE.items()]
    return "\n".join(lines)


def write_into(doc: Path, table: str) -> None:
    text = doc.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{doc} lacks the markers {BEGIN!r} ... {END!r}")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")


def documented_table(doc: Path = DOC) -> str:
    text = doc.read_text()
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")


def sdk_version() -> str:
    return version("svix")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="write the table into docs/api.md")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'surface.sqlite3'}"
        server = ServerProcess(url, Path(folder) / "server.log").start()
        receiver = Receiver().start()
        try:
            results = survey(server.url, TOKEN, receiver.url)
        finally:
            receiver.stop()
            server.stop()
    table = render(results, sdk_version())
    print(table)
    if options.write:
        write_into(DOC, table)
    return 1 if any(r.verdict == "wrong" for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
