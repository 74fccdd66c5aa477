"""Background tasks and the operations that start them, through the `svix` SDK, on both stores:
recover, replay-missing, bulk replay, expunge-all-contents and the usage statistics; the task
list and lookup; a task left running by a dead process; and the synchronous neighbours
(message precheck, bulk expunge). Deliveries go to real receivers on 127.0.0.1.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from svix.api import (
    ApplicationIn,
    AppUsageStatsIn,
    BackgroundTaskListOptions,
    BackgroundTaskOut,
    BulkExpungeContentsIn,
    BulkReplayIn,
    EndpointGetAttemptStatsOptions,
    EndpointIn,
    EndpointPatch,
    EventTypeIn,
    MessageGetOptions,
    MessageIn,
    MessagePrecheckIn,
    RecoverIn,
    Svix,
)
from svix.exceptions import HttpError, HTTPValidationError

from hookpost.core.models import TaskKind, TaskStatus
from hookpost.store import Stores
from hookpost.store.schema import background_tasks
from tests.support.live import Live, live_server, unique
from tests.support.receiver import Behaviour, Receiver
from tests.support.waiting import eventually

# A short lease, so that a task whose runner "died" is taken up again within a second.
live = live_server({"HOOKPOST_BACKGROUND_TASK_LEASE": "1s"})


def finished(svix: Svix, task_id: str) -> BackgroundTaskOut:
    return eventually(
        lambda: (t := svix.background_task.get(task_id)).status != "running" and t,
        what=f"background task {task_id} to finish",
    )


def app_with_endpoint(svix: Svix, url: str, **endpoint: Any) -> tuple[str, str]:
    app = svix.application.create(ApplicationIn(name="tasks", uid=unique("app"))).id
    return app, svix.endpoint.create(app, EndpointIn(url=url, **endpoint)).id


def ids_received(receiver: Receiver) -> list[str]:
    return [json.loads(r.body)["id"] for r in receiver.requests]


def content(svix: Svix, app: str, msg_id: str) -> Any:
    return svix.message.get(app, msg_id, MessageGetOptions(with_content=True)).payload


def since() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=5)


def test_recover_resends_only_what_failed(live: Live, receiver: Receiver) -> None:
    svix = live.sdk()
    app, ep = app_with_endpoint(svix, f"{receiver.url}/hook")
    ok = svix.message.create(app, MessageIn(event_type="a.b", payload={"id": "ok"})).id
    receiver.wait_for(1)
    receiver.script(lambda _r: Behaviour(500))
    bad = svix.message.create(app, MessageIn(event_type="a.b", payload={"id": "bad"})).id
    eventually(
        lambda: svix.endpoint.get_stats(app, ep).fail == 1, what="the second message to fail"
    )
    receiver.script(lambda _r: Behaviour(200))
    before = len(receiver.requests)
    task = svix.endpoint.recover(app, ep, RecoverIn(since=since()))
    assert (task.status, task.task) == ("running", "endpoint.recover")
    done = finished(svix, task.id)
    assert (done.status, done.task, done.data) == (
        "finished",
        "endpoint.recover",
        {"messagesSent": 1},
    )
    receiver.wait_for(before + 1)
    assert ids_received(receiver)[before:] == ["bad"]
    eventually(lambda: svix.endpoint.get_stats(app, ep).success == 2, what="the resend to land")
    again = finished(svix, svix.endpoint.recover(app, ep, RecoverIn(since=since())).id)
    assert again.data == {"messagesSent": 0}  # it succeeded now: nothing to recover
    assert ids_received(receiver).count("ok") == 1  # never failed, never resent
    assert svix.message.get(app, ok).id != svix.message.get(app, bad).id


def test_bulk_replay_sends_again_what_matches_its_filters(live: Live, receiver: Receiver) -> None:
    svix = live.sdk()
    app, ep = app_with_endpoint(svix, f"{receiver.url}/hook")
    for event_type, payload_id, channels, tags in (
        ("a.x", "one", ["c1"], ["t1"]),
        ("b.y", "two", None, None),
        ("a.x", "three", ["c2"], None),
    ):
        svix.message.create(
            app,
            MessageIn(
                event_type=event_type, payload={"id": payload_id}, channels=channels, tags=tags
            ),
        )
    receiver.wait_for(3)
    eventually(lambda: svix.endpoint.get_stats(app, ep).success == 3, what="three deliveries")

    def replay(expected: list[str], **filters: Any) -> None:
        before = len(receiver.requests)
        task = svix.endpoint.bulk_replay(app, ep, BulkReplayIn(since=since(), **filters))
        assert (task.status, task.task) == ("running", "endpoint.bulk-replay")
        done = finished(svix, task.id)
        assert done.data == {"messagesSent": len(expected)}, filters
        if expected:
            receiver.wait_for(before + len(expected))
        assert sorted(ids_received(receiver)[before:]) == sorted(expected), filters

    replay(["one", "three"], event_types=["a.x"])
    replay(["three"], channel="c2")
    replay(["one"], tag="t1")
    replay([], status=2)  # none failed
    replay(["one", "two", "three"], status_code_class=200)
    refused = live.http().post(
        f"/api/v1/app/{app}/endpoint/{ep}/bulk-replay",
        json={"since": since().isoformat(), "statusCodeClass": 250},
    )
    assert refused.status_code == 422
    later = datetime.now(UTC) + timedelta(minutes=1)
    empty = svix.endpoint.bulk_replay(app, ep, BulkReplayIn(since=later))
    assert finished(svix, empty.id).data == {"messagesSent": 0}


def test_expunge_all_contents_empties_every_payload(live: Live, receiver: Receiver) -> None:
    svix = live.sdk()
    app, _ = app_with_endpoint(svix, f"{receiver.url}/hook")
    sent = [
        svix.message.create(app, MessageIn(event_type="a.b", payload={"n": n})).id for n in range(3)
    ]
    other, _ = app_with_endpoint(svix, f"{receiver.url}/hook")
    kept = svix.message.create(other, MessageIn(event_type="a.b", payload={"n": 9})).id
    task = svix.message.expunge_all_contents(app)
    assert (task.status, task.task) == ("running", "application.purge_content")
    assert finished(svix, task.id).data == {"messagesPurged": 3}
    for msg_id in sent:
        assert content(svix, app, msg_id) == {"expired": True}
    assert content(svix, other, kept) == {"n": 9}
    again = svix.message.expunge_all_contents(app)
    assert finished(svix, again.id).data == {"messagesPurged": 0}
    with pytest.raises(HttpError) as missing:
        svix.message.expunge_all_contents(unique("nope"))
    assert missing.value.status_code == 404


def test_bulk_expunge_reports_each_message(live: Live, receiver: Receiver) -> None:
    svix = live.sdk()
    app, ep = app_with_endpoint(svix, f"{receiver.url}/hook")
    first = svix.message.create(app, MessageIn(event_type="a.b", payload={"n": 1})).id
    event_id = unique("evt")
    svix.message.create(app, MessageIn(event_type="a.b", payload={"n": 2}, event_id=event_id))
    kept = svix.message.create(app, MessageIn(event_type="a.b", payload={"n": 3})).id
    result = svix.message.bulk_expunge_content(
        app, BulkExpungeContentsIn(ids=[first, event_id, "msg_nope"])
    )
    assert {k: str(v) for k, v in result.results.items()} == {
        first: "expunged",
        event_id: "expunged",
        "msg_nope": "not-found",
    }
    assert content(svix, app, kept) == {"n": 3}
    assert content(svix, app, first) == {"expired": True}
    with pytest.raises(HttpError) as gone:
        svix.message_attempt.resend(app, first, ep)
    assert gone.value.status_code == 400


def test_precheck_answers_whether_an_endpoint_listens(live: Live, receiver: Receiver) -> None:
    svix = live.sdk()
    for name in ("pre.a", "pre.b"):
        svix.event_type.create(EventTypeIn(name=name, description=name))
    app = svix.application.create(ApplicationIn(name="pre", uid=unique("app"))).id

    def active(event_type: str, channels: list[str] | None = None) -> bool:
        found = svix.message.precheck(
            app, MessagePrecheckIn(event_type=event_type, channels=channels)
        )
        return found.active

    assert active("pre.a") is False  # no endpoint at all
    ep = svix.endpoint.create(
        app, EndpointIn(url=f"{receiver.url}/hook", event_types=["pre.a"], channels=["c1"])
    ).id
    assert active("pre.a", ["c1"]) is True
    assert active("pre.a", ["c2"]) is False
    assert active("pre.a") is False  # an endpoint with channels takes only those
    assert active("pre.b", ["c1"]) is False
    svix.endpoint.patch(app, ep, EndpointPatch(disabled=True))
    assert active("pre.a", ["c1"]) is False
    svix.endpoint.create(app, EndpointIn(url=f"{receiver.url}/hook"))
    assert active("pre.b") is True
    with pytest.raises(HttpError) as missing:
        svix.message.precheck(unique("nope"), MessagePrecheckIn(event_type="pre.a"))
    assert missing.value.status_code == 404


def test_usage_statistics_are_background_tasks(live: Live, receiver: Receiver) -> None:
    token = live.new_organization_token("stats")
    svix = live.sdk(token)
    svix.event_type.create(EventTypeIn(name="st.a", description="a"))
    svix.event_type.create(EventTypeIn(name="st.b", description="b"))
    one = svix.application.create(ApplicationIn(name="one", uid=unique("app"))).id
    two = svix.application.create(ApplicationIn(name="two", uid=unique("app"))).id
    svix.endpoint.create(one, EndpointIn(url=f"{receiver.url}/1", event_types=["st.a"]))
    svix.endpoint.create(one, EndpointIn(url=f"{receiver.url}/2", event_types=["st.b", "st.a"]))
    svix.endpoint.create(two, EndpointIn(url=f"{receiver.url}/3"))
    for app in (one, one, two):
        svix.message.create(app, MessageIn(event_type="st.a", payload={}))

    now = datetime.now(UTC)
    stats = svix.statistics.aggregate_app_stats(
        AppUsageStatsIn(since=now - timedelta(hours=1), until=now + timedelta(minutes=1))
    )
    assert (stats.status, stats.task, stats.unresolved_app_ids) == (
        "running",
        "application.stats",
        [],
    )
    counted = {
        s["appId"]: s["messageDestinations"] for s in finished(svix, stats.id).data["appStats"]
    }
    assert counted == {one: 4, two: 1}
    some = svix.statistics.aggregate_app_stats(
        AppUsageStatsIn(since=now - timedelta(hours=1), until=now, app_ids=[two, "app-nope"])
    )
    assert some.unresolved_app_ids == ["app-nope"]
    listed = finished(svix, some.id).data["appStats"]
    assert [s["appId"] for s in listed] == [two]
    with pytest.raises(HTTPValidationError):
        svix.statistics.aggregate_app_stats(
            AppUsageStatsIn(since=now - timedelta(hours=1), until=now, app_ids=["app-nope"])
        )

    types = svix.statistics.aggregate_event_types()
    assert (types.status, types.task) == ("running", "event-type.aggregate")
    found = {e["appId"]: e for e in finished(svix, types.id).data["event_types"]}
    assert found[one]["explicitlySubscribedEventTypes"] == ["st.a", "st.b"]
    assert found[one]["hasCatchAllEndpoint"] is False
    assert found[two]["explicitlySubscribedEventTypes"] == []
    assert found[two]["hasCatchAllEndpoint"] is True
    # The default organization's tasks are not this one's.
    assert all(t.id != stats.id for t in live.sdk().background_task.list().data)


def test_tasks_are_listed_filtered_and_paged(live: Live, receiver: Receiver) -> None:
    token = live.new_organization_token("lists")
    svix = live.sdk(token)
    app, ep = app_with_endpoint(svix, f"{receiver.url}/hook")
    recover = finished(svix, svix.endpoint.recover(app, ep, RecoverIn(since=since())).id)
    purge = finished(svix, svix.message.expunge_all_contents(app).id)
    listed = svix.background_task.list()
    assert [t.id for t in listed.data] == [purge.id, recover.id]  # newest first
    assert listed.done is True
    only = svix.background_task.list(BackgroundTaskListOptions(task="endpoint.recover"))
    assert [t.id for t in only.data] == [recover.id]
    assert svix.background_task.list(BackgroundTaskListOptions(status="running")).data == []
    first = svix.background_task.list(BackgroundTaskListOptions(limit=1, order="ascending"))
    assert ([t.id for t in first.data], first.done) == ([recover.id], False)
    rest = svix.background_task.list(
        BackgroundTaskListOptions(limit=1, order="ascending", iterator=first.iterator)
    )
    assert [t.id for t in rest.data] == [purge.id]
    with pytest.raises(HttpError) as missing:
        svix.background_task.get("qtask_" + "0" * 27)
    assert missing.value.status_code == 404
    with pytest.raises(HttpError) as foreign:
        live.sdk().background_task.get(recover.id)  # another organization's task
    assert foreign.value.status_code == 404
    bad = live.http(token).get("/api/v1/background-task", params={"status": "sleeping"})
    assert bad.status_code == 422


def test_a_task_left_running_by_a_dead_process_is_resumed_or_failed(
    live: Live, receiver: Receiver
) -> None:
    """Rows as a process killed mid-task leaves them: running, leased, half done."""
    svix = live.sdk()
    app, _ = app_with_endpoint(svix, f"{receiver.url}/hook")
    for n in range(3):
        svix.message.create(app, MessageIn(event_type="a.b", payload={"n": n}))
    app_id = svix.application.get(app).id

    async def orphan(store: Stores) -> tuple[str, str]:
        org_id = (await store.access.ensure_organization()).id
        now = datetime.now(UTC)
        past = int((now - timedelta(seconds=5)).timestamp() * 1_000_000)
        made = []
        async with store.database.write() as conn:  # each row whole, in one statement
            for runs in (1, 5):
                made.append(store.access._ids.new("qtask_"))
                await conn.execute(
                    background_tasks.insert().values(
                        id=made[-1],
                        org_id=org_id,
                        app_id=app_id,
                        endpoint_id=None,
                        kind=TaskKind.APPLICATION_PURGE_CONTENT.value,
                        status=TaskStatus.RUNNING.value,
                        params="{}",
                        data='{"messagesPurged": 0}',
                        runs=runs,
                        lease_token="dead",
                        lease_until=past,
                        created_at=past,
                        updated_at=past,
                    )
                )
        return made[0], made[1]

    # Created straight in the database, no runner was told: they are found by the lease.
    half, hopeless = live.run(orphan)
    resumed = finished(svix, half)
    assert (resumed.status, resumed.data) == ("finished", {"messagesPurged": 3})
    failed = finished(svix, hopeless)
    assert failed.status == TaskStatus.FAILED
    raw = live.http().get(f"/api/v1/background-task/{hopeless}").json()
    assert "interrupted 5 times" in raw["error"]
    assert raw["finishedAt"] == raw["updatedAt"]
    assert live.http().get(f"/api/v1/background-task/{half}").json()["error"] is None
    assert failed.data == {"messagesPurged": 0}  # not run a sixth time


def test_endpoint_attempt_stats_count_attempts_by_outcome(live: Live, receiver: Receiver) -> None:
    svix = live.sdk()
    app, ep = app_with_endpoint(svix, f"{receiver.url}/hook")
    empty = svix.endpoint.get_attempt_stats(app, ep)
    assert (empty.success, empty.fail, empty.canceled) == (0, 0, 0)
    receiver.answer(500)  # the first attempt fails, the retry succeeds
    svix.message.create(app, MessageIn(event_type="a.b", payload={"id": "x"}))
    receiver.wait_for(2)
    stats = eventually(
        lambda: (s := svix.endpoint.get_attempt_stats(app, ep)).success == 1 and s,
        what="the retry to be recorded",
    )
    assert (stats.success, stats.fail, stats.canceled) == (1, 1, 0)
    now = datetime.now(UTC)
    earlier = svix.endpoint.get_attempt_stats(
        app,
        ep,
        EndpointGetAttemptStatsOptions(
            since=now - timedelta(days=3), until=now - timedelta(days=2)
        ),
    )
    assert (earlier.success, earlier.fail) == (0, 0)
    with pytest.raises(HttpError) as too_long:
        svix.endpoint.get_attempt_stats(
            app, ep, EndpointGetAttemptStatsOptions(since=now - timedelta(days=40), until=now)
        )
    assert too_long.value.status_code == 400
