"""The metrics of one process, in process: what the observer counts from recorded attempts,
how requests are labelled by route template, how the queue gauges are cached and survive a
database that is down, and that the Grafana dashboard only asks for metrics hookpost exports.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hookpost.config import Settings
from hookpost.core.errors import Unavailable
from hookpost.core.models import Claim, DeliveryState, Endpoint, Message, TriggerType
from hookpost.core.outcomes import AttemptRecord, Decision, ErrorClass, Outcome
from hookpost.core.telemetry import PoolUse, QueueDepth
from hookpost.metrics import Metrics
from hookpost.runtime import Runtime, open_runtime
from tests.support.server import TOKEN

DASHBOARD = Path(__file__).parent.parent / "deploy" / "grafana" / "hookpost.json"
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition, read by prometheus_client's own parser."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def _endpoint() -> Endpoint:
    return Endpoint(
        "ep_1", "org_1", "app_1", None, "https://example.com", "POST", "", False, None, None,
        None, {}, {}, (), T0, T0,
    )  # fmt: skip


def _record(
    status: int,
    *,
    error: ErrorClass | None = None,
    attempts_before: int = 0,
    trigger: TriggerType = TriggerType.SCHEDULED,
    waited: float = 0.5,
    duration_ms: int = 40,
) -> AttemptRecord:
    message = Message("msg_1", "org_1", "app_1", "a.b", None, None, None, b"{}", T0)
    claim = Claim("dlv_1", "tok", T0, trigger, attempts_before, message, _endpoint(), None)
    outcome = Outcome(status_code=status, duration_ms=duration_ms, error_class=error)
    decision = Decision(DeliveryState.SUCCEEDED, attempts_before + 1, None)
    return AttemptRecord("atmpt_1", claim, outcome, decision, T0 + timedelta(seconds=waited))


async def test_the_observer_counts_attempts_by_outcome_and_error_class() -> None:
    metrics = Metrics(version="t", database="sqlite")
    metrics.attempts_recorded(
        [
            _record(200, duration_ms=20),
            _record(204, waited=3.0),
            _record(500, error=ErrorClass.HTTP_STATUS),
            _record(0, error=ErrorClass.TIMEOUT, attempts_before=1, duration_ms=15_000),
        ]
    )
    metrics.attempts_recorded([_record(0, error=ErrorClass.TIMEOUT, attempts_before=2)])
    metrics.attempts_recorded([_record(200, trigger=TriggerType.MANUAL)])  # a resend
    found = samples((await metrics.exposition()).decode())

    assert value(found, "hookpost_attempts_total", outcome="success", error_class="none") == 3
    assert (
        value(found, "hookpost_attempts_total", outcome="failure", error_class="http_status") == 1
    )
    assert value(found, "hookpost_attempts_total", outcome="failure", error_class="timeout") == 2
    assert value(found, "hookpost_attempt_duration_seconds_count", outcome="success") == 3
    assert value(found, "hookpost_attempt_duration_seconds_count", outcome="failure") == 3
    # The 15 s timeout lands above the 10 s bucket and within the 15 s one.
    bucket = "hookpost_attempt_duration_seconds_bucket"
    assert value(found, bucket, outcome="failure", le="10.0") == 2
    assert value(found, bucket, outcome="failure", le="15.0") == 3
    # Latency: first attempts of scheduled deliveries only (not retries, not resends).
    assert value(found, "hookpost_first_attempt_latency_seconds_count") == 3
    assert value(found, "hookpost_first_attempt_latency_seconds_sum") == pytest.approx(4.0)
    assert value(found, "hookpost_first_attempt_latency_seconds_bucket", le="1.0") == 2


async def test_retention_reports_deletions_by_kind() -> None:
    metrics = Metrics(version="t", database="sqlite")
    metrics.retention_deleted("attempts", 1000)
    metrics.retention_deleted("attempts", 234)
    metrics.retention_deleted("payloads", 5)
    metrics.retention_pass_finished(2.5)
    found = samples((await metrics.exposition()).decode())
    assert value(found, "hookpost_retention_deleted_total", kind="attempts") == 1234
    assert value(found, "hookpost_retention_deleted_total", kind="payloads") == 5
    assert value(found, "hookpost_retention_last_pass_duration_seconds") == 2.5
    assert value(found, "hookpost_retention_last_pass_timestamp_seconds") > 0


class Depths:
    """A queue reader that counts its reads and can be told the database is down."""

    def __init__(self) -> None:
        self.reads = 0
        self.down = False

    async def read(self) -> QueueDepth:
        if self.down:
            raise Unavailable("database down")
        self.reads += 1
        return QueueDepth(self.reads, scheduled=2, in_flight=3, oldest_ready_seconds=4.0, cap=9)


async def test_queue_gauges_are_read_at_scrape_time_at_most_every_few_seconds() -> None:
    now = [100.0]
    metrics = Metrics(version="t", database="postgresql", monotonic=lambda: now[0], queue_ttl=5)
    depths = Depths()
    metrics.watch_queue(depths.read)
    assert depths.reads == 0  # nothing is read until a scrape asks

    found = samples((await metrics.exposition()).decode())
    assert value(found, "hookpost_queue_deliveries", state="ready") == 1
    assert value(found, "hookpost_queue_deliveries", state="scheduled") == 2
    assert value(found, "hookpost_queue_deliveries", state="in_flight") == 3
    assert value(found, "hookpost_queue_oldest_ready_seconds") == 4
    assert value(found, "hookpost_queue_count_cap") == 9
    assert value(found, "hookpost_queue_read_success") == 1

    now[0] += 4.9
    await metrics.exposition()
    assert depths.reads == 1  # a second scraper within the TTL is answered from the cache
    now[0] += 0.2
    found = samples((await metrics.exposition()).decode())
    assert depths.reads == 2
    assert value(found, "hookpost_queue_deliveries", state="ready") == 2

    depths.down = True
    now[0] += 10
    found = samples((await metrics.exposition()).decode())  # still answers
    assert value(found, "hookpost_queue_read_success") == 0
    assert value(found, "hookpost_queue_read_errors_total") == 1
    assert value(found, "hookpost_queue_deliveries", state="ready") == 2  # the last known
    await metrics.exposition()
    found = samples((await metrics.exposition()).decode())
    assert value(found, "hookpost_queue_read_errors_total") == 1  # not retried within the TTL

    depths.down = False
    now[0] += 5
    found = samples((await metrics.exposition()).decode())
    assert value(found, "hookpost_queue_read_success") == 1
    assert value(found, "hookpost_queue_deliveries", state="ready") == 3


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'm.sqlite3'}",
        api_token=TOKEN,
        metrics_token="scrape-token",
    )
    opened = await open_runtime(settings)
    await opened.admit_operator()
    yield opened
    await opened.close()


async def test_requests_are_labelled_by_route_template(runtime: Runtime) -> None:
    app = runtime.api()
    auth = {"authorization": f"Bearer {TOKEN}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hookpost") as client:
        created = await client.post("/api/v1/app", json={"name": "a", "uid": "shop"}, headers=auth)
        assert created.status_code == 201
        for _ in range(3):  # the publish fast path, which routing never sees
            body = {"eventType": "a.b", "payload": {}}
            published = await client.post("/api/v1/app/shop/msg", json=body, headers=auth)
            assert published.status_code == 202
        assert (await client.get("/api/v1/app/shop/msg/", headers=auth)).status_code == 200
        assert (await client.head("/api/v1/app/shop", headers=auth)).status_code == 200
        assert (await client.get("/api/v1/app/nope", headers=auth)).status_code == 404
        assert (await client.get("/no/such/path/1")).status_code == 404
        assert (await client.get("/no/such/path/2")).status_code == 404
        assert (await client.get("/portal/endpoints")).status_code >= 400  # no session
        assert (await client.get("/portal/static/brand.css")).status_code == 200
        assert (await client.request("BREW", "/api/v1/app")).status_code >= 400
        scraped = await client.get("/metrics", headers={"authorization": "Bearer scrape-token"})
        assert scraped.status_code == 200
    found = samples(scraped.text)
    counts = {
        (dict(labels)["method"], dict(labels)["route"], dict(labels)["status_class"]): count
        for (name, labels), count in found.items()
        if name == "hookpost_http_request_duration_seconds_count"
    }
    assert counts[("POST", "/api/v1/app", "2xx")] == 1
    assert counts[("POST", "/api/v1/app/{app_id}/msg", "2xx")] == 3
    assert counts[("GET", "/api/v1/app/{app_id}/msg", "2xx")] == 1  # trailing slash too
    assert counts[("HEAD", "/api/v1/app/{app_id}", "2xx")] == 1  # the GET route answered
    assert counts[("GET", "/api/v1/app/{app_id}", "4xx")] == 1
    assert counts[("GET", "unmatched", "4xx")] == 2  # raw paths never become labels
    assert ("GET", "/portal/static/{name}", "2xx") in counts
    assert counts[("GET", "/portal/endpoints", "4xx")] == 1  # a route inside the mount
    assert counts[("other", "unmatched", "4xx")] == 1  # a method no route knows
    assert not any("shop" in route or "path/1" in route for _, route, _ in counts)


async def test_metrics_are_left_out_of_the_openapi_document(runtime: Runtime) -> None:
    transport = httpx.ASGITransport(app=runtime.api())
    async with httpx.AsyncClient(transport=transport, base_url="http://hookpost") as client:
        document = (await client.get("/openapi.json")).json()
    assert "/api/v1/app" in document["paths"]
    assert "/metrics" not in document["paths"]


async def test_the_metrics_port_takes_metrics_off_the_api_port(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'p.sqlite3'}", metrics_port=9)
    runtime = await open_runtime(settings)
    try:
        api = httpx.ASGITransport(app=runtime.api())
        own = runtime.metrics_app()
        assert own is not None
        async with httpx.AsyncClient(transport=api, base_url="http://h") as client:
            assert (await client.get("/metrics")).status_code == 404
        own_transport = httpx.ASGITransport(app=own)
        async with httpx.AsyncClient(transport=own_transport, base_url="http://h") as client:
            answer = await client.get("/metrics")
            assert answer.status_code == 200
            assert (await client.get("/api/v1/app")).status_code == 404
        assert "hookpost_queue_deliveries" in answer.text
    finally:
        await runtime.close()


async def test_metrics_can_be_turned_off(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'o.sqlite3'}", metrics=False)
    runtime = await open_runtime(settings)
    try:
        assert runtime.metrics is None
        assert runtime.metrics_app() is None
        transport = httpx.ASGITransport(app=runtime.api())
        async with httpx.AsyncClient(transport=transport, base_url="http://h") as client:
            assert (await client.get("/metrics")).status_code == 404
    finally:
        await runtime.close()


async def test_every_dashboard_query_names_a_metric_hookpost_exports() -> None:
    metrics = Metrics(version="t", database="sqlite", pool_use=lambda: PoolUse(1, 2, 3))
    metrics.watch_queue(Depths().read)
    metrics.serves("api")
    metrics.attempts_recorded([_record(200)])
    metrics.request_finished("GET", "/api/v1/app", 200, 0.01)
    metrics.retention_deleted("attempts", 1)
    exported = {name for name, _ in samples((await metrics.exposition()).decode())}

    dashboard = json.loads(DASHBOARD.read_text())
    expressions = list(_expressions(dashboard))
    assert len(expressions) >= 10
    named = set()
    for expr in expressions:
        names = set(re.findall(r"\b(hookpost_[a-z_]+|process_[a-z_]+)\b", expr))
        assert names, f"a query that names no hookpost metric: {expr}"
        named |= names
    assert named - exported == set()
    # Every family of hookpost's own is on the dashboard somewhere.
    families = {_family(name) for name in exported if name.startswith("hookpost_")}
    assert families - {_family(name) for name in named} == set()


def _family(name: str) -> str:
    return re.sub(r"_(total|bucket|count|sum|created)$", "", name)


def _expressions(node: object) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, item in node.items():
            if key == "expr" and isinstance(item, str):
                found.append(item)
            else:
                found += _expressions(item)
    elif isinstance(node, list):
        for item in node:
            found += _expressions(item)
    return found
