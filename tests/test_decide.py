"""The retry, notification and auto-disable rules: `core.outcomes.decide` and `RetryPolicy`.

Pure functions, so time and randomness are arguments and nothing sleeps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookpost.core.models import DeliveryState, TriggerType
from hookpost.core.outcomes import FAILING_AFTER, Decision, ErrorClass, Notice, Outcome, decide
from hookpost.core.retry import DEFAULT_SCHEDULE, RetryPolicy, parse_schedule

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
DISABLE_AFTER = timedelta(hours=120)
POLICY = RetryPolicy()
MIDDLE = 0.5  # the unit draw that gives no jitter at all

OK = Outcome(200, 12)
FAILED_500 = Outcome(500, 12, ErrorClass.HTTP_STATUS, "500 Internal Server Error: ...")
REFUSED = Outcome(0, 3, ErrorClass.REFUSED, "connection refused")
TIMED_OUT = Outcome(0, 15_000, ErrorClass.TIMEOUT, "no complete answer within 15s")
GONE = Outcome(410, 5, ErrorClass.HTTP_STATUS, "410 Gone: ...")


def throttled(seconds: float | None, status: int = 429) -> Outcome:
    return Outcome(status, 5, ErrorClass.HTTP_STATUS, "throttled", retry_after=seconds)


def run(
    outcome: Outcome,
    attempts_before: int = 0,
    *,
    trigger: TriggerType = TriggerType.SCHEDULED,
    policy: RetryPolicy = POLICY,
    unit_random: float = MIDDLE,
    failing_since: datetime | None = None,
    disable_after: timedelta = DISABLE_AFTER,
) -> Decision:
    return decide(
        trigger=trigger,
        attempts_before=attempts_before,
        outcome=outcome,
        policy=policy,
        now=NOW,
        unit_random=unit_random,
        failing_since=failing_since,
        disable_after=disable_after,
    )


def delay_of(decision: Decision) -> float:
    assert decision.next_attempt_at is not None
    return (decision.next_attempt_at - NOW).total_seconds()


failures = st.sampled_from([FAILED_500, REFUSED, TIMED_OUT, throttled(None), throttled(30, 503)])
draws = st.floats(min_value=0, max_value=1, exclude_max=True)


# -- the schedule ------------------------------------------------------------------------------


def test_the_default_schedule_is_svixs() -> None:
    assert DEFAULT_SCHEDULE == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert POLICY.schedule == DEFAULT_SCHEDULE
    assert POLICY.max_attempts == 8


def test_a_delivery_that_always_fails_gets_eight_attempts_on_schedule() -> None:
    attempts, delays, notices = 0, [], []
    while True:
        decision = run(FAILED_500, attempts, failing_since=NOW)
        assert decision.attempts == attempts + 1
        attempts = decision.attempts
        notices.append(decision.notices)
        if decision.state is not DeliveryState.PENDING:
            break
        delays.append(delay_of(decision))

    assert attempts == 8
    assert tuple(delays) == DEFAULT_SCHEDULE
    assert decision.state is DeliveryState.FAILED
    assert decision.next_attempt_at is None
    assert notices[FAILING_AFTER - 1] == (Notice.FAILING,)  # after the 4th failure
    assert notices[-1] == (Notice.EXHAUSTED,)
    assert [n for n in notices if n] == [(Notice.FAILING,), (Notice.EXHAUSTED,)]


@pytest.mark.parametrize(
    ("attempts_made", "expected"),
    [
        *[(0, None), (1, 5), (2, 300), (3, 1800), (4, 7200), (5, 18000), (6, 36000)],
        *[(7, 36000), (8, None), (9, None), (-1, None)],
    ],
)
def test_next_delay_follows_the_schedule(attempts_made: int, expected: float | None) -> None:
    assert POLICY.next_delay(attempts_made, unit_random=MIDDLE) == expected


@pytest.mark.parametrize("schedule", [(), (1.0,), (0.2, 0.5, 1.0, 2.0, 4.0)])
def test_a_custom_schedule_has_one_attempt_more_than_entries(schedule: tuple[float, ...]) -> None:
    policy = RetryPolicy(schedule)
    attempts = 0
    while run(REFUSED, attempts, policy=policy).state is DeliveryState.PENDING:
        attempts += 1
    assert attempts + 1 == policy.max_attempts == len(schedule) + 1


# -- jitter ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("draw", "factor"), [(0.0, 0.8), (0.25, 0.9), (0.5, 1.0), (0.75, 1.1)])
def test_jitter_is_linear_in_the_draw(draw: float, factor: float) -> None:
    assert POLICY.next_delay(2, unit_random=draw) == pytest.approx(300 * factor)


@given(attempts=st.integers(1, len(DEFAULT_SCHEDULE)), draw=draws)
def test_jitter_stays_within_twenty_percent(attempts: int, draw: float) -> None:
    scheduled = DEFAULT_SCHEDULE[attempts - 1]
    delay = POLICY.next_delay(attempts, unit_random=draw)
    assert delay is not None
    assert 0.8 * scheduled <= delay <= 1.2 * scheduled  # the top only up to rounding


# -- Retry-After -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts_before", "retry_after", "expected"),
    [
        (0, 1, 5),  # asks for less than scheduled: the schedule wins
        (0, 0, 5),
        (0, 7, 7),  # inside [5, 10]: honoured exactly, no jitter
        (0, 120, 10),  # asks for more: capped at twice the scheduled delay
        (1, 120, 300),
        (1, 450, 450),
        (1, 3600, 600),
        (1, float("inf"), 600),
    ],
)
def test_retry_after_is_clamped_to_one_to_two_scheduled_delays(
    attempts_before: int, retry_after: float, expected: float
) -> None:
    for status in (429, 503):
        decision = run(throttled(retry_after, status), attempts_before, unit_random=0.99)
        assert decision.state is DeliveryState.PENDING
        assert delay_of(decision) == expected


def test_an_unusable_retry_after_falls_back_to_the_jittered_schedule() -> None:
    for value in (None, -1.0, float("nan")):
        assert delay_of(run(throttled(value), 1, unit_random=0.0)) == pytest.approx(240)


@given(
    attempts=st.integers(1, len(DEFAULT_SCHEDULE)),
    retry_after=st.floats(min_value=0, allow_nan=False),
    draw=draws,
)
def test_retry_after_never_leaves_the_clamp(attempts: int, retry_after: float, draw: float) -> None:
    scheduled = DEFAULT_SCHEDULE[attempts - 1]
    delay = POLICY.next_delay(attempts, unit_random=draw, retry_after=retry_after)
    assert delay is not None
    assert scheduled <= delay <= 2 * scheduled


# -- timeouts ----------------------------------------------------------------------------------


@given(draw=draws)
def test_a_timeout_waits_at_least_the_floor(draw: float) -> None:
    assert delay_of(run(TIMED_OUT, 0, unit_random=draw)) == 60  # 5 s scheduled, 60 s floor
    assert delay_of(run(REFUSED, 0, unit_random=draw)) < 60


def test_the_timeout_floor_does_not_shorten_longer_delays() -> None:
    assert delay_of(run(TIMED_OUT, 2, unit_random=0.0)) == pytest.approx(1800 * 0.8)
    assert RetryPolicy(timeout_floor=0).next_delay(1, unit_random=MIDDLE, timed_out=True) == 5


# -- manual triggers ---------------------------------------------------------------------------


@given(attempts_before=st.integers(0, 20), outcome=failures, draw=draws)
def test_a_manual_attempt_is_never_retried(
    attempts_before: int, outcome: Outcome, draw: float
) -> None:
    decision = run(
        outcome,
        attempts_before,
        trigger=TriggerType.MANUAL,
        unit_random=draw,
        failing_since=NOW - 2 * DISABLE_AFTER,
    )
    assert decision == Decision(DeliveryState.FAILED, attempts_before + 1, None)


def test_a_manual_attempt_that_gets_410_disables_but_is_not_resumed_later() -> None:
    decision = run(GONE, trigger=TriggerType.MANUAL)

    assert decision.state is DeliveryState.FAILED
    assert decision.next_attempt_at is None
    assert decision.disable_endpoint
    assert decision.notices == (Notice.ENDPOINT_DISABLED,)


def test_a_manual_success_succeeds() -> None:
    assert run(OK, trigger=TriggerType.MANUAL).state is DeliveryState.SUCCEEDED


# -- notices -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("attempts_before", "recovered"), [(0, False), (3, False), (4, True)])
def test_success_recovers_only_after_the_failing_notice(
    attempts_before: int, recovered: bool
) -> None:
    decision = run(OK, attempts_before)

    assert decision.state is DeliveryState.SUCCEEDED
    assert decision.attempts == attempts_before + 1
    assert decision.next_attempt_at is None
    assert not decision.disable_endpoint
    assert decision.notices == ((Notice.RECOVERED,) if recovered else ())


@given(attempts_before=st.integers(0, 10), outcome=failures)
def test_failing_is_sent_once_at_the_fourth_failure(attempts_before: int, outcome: Outcome) -> None:
    decision = run(outcome, attempts_before)
    assert (Notice.FAILING in decision.notices) is (attempts_before + 1 == FAILING_AFTER)


def test_a_short_schedule_can_be_failing_and_exhausted_at_once() -> None:
    decision = run(FAILED_500, 3, policy=RetryPolicy((1, 1, 1)))
    assert decision.notices == (Notice.FAILING, Notice.EXHAUSTED)


# -- auto-disable ------------------------------------------------------------------------------

LAST = len(DEFAULT_SCHEDULE)  # attempts before the last scheduled attempt


@pytest.mark.parametrize(
    ("failing_for", "disabled"),
    [
        (None, False),  # the endpoint's last attempt succeeded
        (timedelta(0), False),
        (DISABLE_AFTER - timedelta(seconds=1), False),
        (DISABLE_AFTER, False),  # "longer than", not "at least"
        (DISABLE_AFTER + timedelta(seconds=1), True),
        (DISABLE_AFTER * 3, True),
    ],
)
def test_exhaustion_disables_only_after_failing_longer_than_the_window(
    failing_for: timedelta | None, disabled: bool
) -> None:
    since = None if failing_for is None else NOW - failing_for

    decision = run(REFUSED, LAST, failing_since=since)

    assert decision.state is DeliveryState.FAILED
    assert decision.disable_endpoint is disabled
    assert (Notice.ENDPOINT_DISABLED in decision.notices) is disabled
    assert Notice.EXHAUSTED in decision.notices


@given(attempts_before=st.integers(0, LAST - 1), outcome=failures)
def test_a_delivery_with_attempts_left_never_disables(
    attempts_before: int, outcome: Outcome
) -> None:
    decision = run(outcome, attempts_before, failing_since=NOW - 10 * DISABLE_AFTER)

    assert decision.state is DeliveryState.PENDING
    assert decision.next_attempt_at is not None
    assert decision.next_attempt_at > NOW
    assert not decision.disable_endpoint


@pytest.mark.parametrize("attempts_before", [0, 3, LAST])
def test_410_pauses_the_delivery_and_disables_the_endpoint(attempts_before: int) -> None:
    decision = run(GONE, attempts_before)

    assert decision.state is DeliveryState.PAUSED
    assert decision.next_attempt_at == NOW  # resumes at once if the endpoint is re-enabled
    assert decision.attempts == attempts_before + 1
    assert decision.disable_endpoint
    assert decision.notices == (Notice.ENDPOINT_DISABLED,)


# -- the schedule setting ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "schedule"),
    [("5,300,1800", (5.0, 300.0, 1800.0)), (" 0.2, 0.5 ,1", (0.2, 0.5, 1.0)), ("", ())],
)
def test_parse_schedule(text: str, schedule: tuple[float, ...]) -> None:
    assert parse_schedule(text) == schedule


@pytest.mark.parametrize("text", ["5,soon", "-1", "inf", "nan", "5;300"])
def test_parse_schedule_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        parse_schedule(text)
