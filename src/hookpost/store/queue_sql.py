"""The delivery queue's rules written once in SQL for both dialects, states taken from the
`DeliveryState` enum; each dialect supplies its parameters (`ids`: a membership test such as
`= ANY($1::varchar[])` or `IN (SELECT value FROM json_each(?))`).
"""

from __future__ import annotations

from typing import NamedTuple

from hookpost.core.models import DeliveryState


def state(value: DeliveryState) -> str:
    """A state as an SQL literal (from the enum, never from input)."""
    return f"'{value.value}'"


PENDING = state(DeliveryState.PENDING)
PAUSED = state(DeliveryState.PAUSED)
SUCCEEDED = state(DeliveryState.SUCCEEDED)


def recorded(current: str, proposed: str, next_at: str, started_at: str) -> str:
    """SET clauses for a recorded attempt: the proposed state and next attempt, except that
    a delivery paused or canceled mid-flight (its endpoint disabled or deleted while the
    attempt ran) keeps that state unless the attempt succeeded; a paused one comes due
    again from the attempt's start once resumed."""
    kept = f"{current} <> {PENDING} AND {proposed} <> {SUCCEEDED}"
    return (
        f"state = CASE WHEN {kept} THEN {current} ELSE {proposed} END, "
        f"next_attempt_at = CASE WHEN {kept} "
        f"THEN CASE WHEN {current} = {PAUSED} THEN {started_at} END ELSE {next_at} END"
    )


def clear_failing(ids: str) -> str:
    """Endpoints `ids` succeeded: their failing-since clock stops."""
    return f"UPDATE endpoints SET failing_since = NULL WHERE id {ids} AND failing_since IS NOT NULL"  # noqa: S608


def start_failing(ids: str, now: str) -> str:
    """Endpoints `ids` failed with no success in the batch: their clock starts, if stopped."""
    return f"UPDATE endpoints SET failing_since = {now} WHERE id {ids} AND failing_since IS NULL"  # noqa: S608


def disable_endpoints(ids: str, now: str) -> str:
    """Endpoints `ids` failed for too long: disabled (their deliveries pause, see below)."""
    return f"UPDATE endpoints SET disabled = TRUE, updated_at = {now} WHERE id {ids}"  # noqa: S608


def pause_deliveries(ids: str, now: str) -> str:
    """The unfinished deliveries of disabled endpoints `ids` pause until they are enabled."""
    return (
        f"UPDATE deliveries SET state = {PAUSED}, next_attempt_at = {now}, updated_at = {now} "  # noqa: S608
        f"WHERE endpoint_id {ids} AND state = {PENDING}"
    )


class EndpointStatement(NamedTuple):
    sql: str
    takes_now: bool  # whether `now` is a parameter (asyncpg refuses parameters not used)


def after_recording(ids: str, now: str) -> tuple[EndpointStatement, ...]:
    """What a recording changes of the endpoints it touched, in order, as queue.py's
    `endpoint_changes` names the endpoints of each."""
    return (
        EndpointStatement(clear_failing(ids), False),
        EndpointStatement(start_failing(ids, now), True),
        EndpointStatement(disable_endpoints(ids, now), True),
        EndpointStatement(pause_deliveries(ids, now), True),
    )
