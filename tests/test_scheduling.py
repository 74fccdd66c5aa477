"""The scheduler's admission rules, with a fake clock and no I/O: per-endpoint shares, what a
claim asks for, adaptive room for struggling endpoints, and the lane for slow attempts.
"""

from __future__ import annotations

import pytest

from hookpost.core.pacing import pace
from hookpost.delivery.scheduling import Scheduler, SchedulingPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def scheduler(**policy: float) -> tuple[Scheduler, FakeClock]:
    clock = FakeClock()
    defaults: dict[str, float] = {
        "slots": 8,
        "endpoint_slots": 4,
        "batch": 8,
        "slow_after": 2.0,
        "slow_slots": 3,
    }
    return Scheduler(SchedulingPolicy(**{**defaults, **policy}), clock), clock  # type: ignore[arg-type]


def test_an_endpoint_runs_no_more_than_its_share_and_claims_at_most_one_share_ahead() -> None:
    s, _ = scheduler()
    tickets = [s.admit("ep_slow") for _ in range(4)]
    assert all(t is not None for t in tickets)
    assert s.admit("ep_slow") is None  # the fifth may not run
    # A healthy endpoint may have one share claimed ahead, waiting without a slot...
    assert s.claim_request().rooms == {"ep_slow": 4}
    assert all(s.wait("ep_slow") for _ in range(4))
    assert not s.wait("ep_slow")  # ...and no more
    request = s.claim_request()
    assert request.rooms == {"ep_slow": 0}
    assert request.excluded == ["ep_slow"]
    assert request.room == 8  # an endpoint the worker has nothing of: one share and one ahead
    assert request.size == 4  # the slots the endpoint's running attempts do not hold
    assert s.admit("ep_other") is not None


def test_a_struggling_endpoint_gets_nothing_claimed_ahead() -> None:
    s, _ = scheduler(endpoint_slots=4)
    ticket = s.admit("ep_dead")
    assert ticket is not None
    s.finished(ticket, healthy=False)  # room 4 -> 2
    assert s.claimable("ep_dead") == 2
    running = [s.admit("ep_dead"), s.admit("ep_dead")]
    assert all(running)
    assert not s.wait("ep_dead")  # nothing waits for an endpoint that fails
    assert s.claimable("ep_dead") == 0


def test_a_busy_worker_claims_in_batches_not_row_by_row() -> None:
    s, _ = scheduler(slots=8, endpoint_slots=8, batch=8)
    tickets = [s.admit(f"ep_{n}") for n in range(7)]
    assert s.claim_request().size == 0  # one free slot: less than half a batch
    s.finished(tickets[0], healthy=True)
    s.finished(tickets[1], healthy=True)
    s.finished(tickets[2], healthy=True)
    assert s.claim_request().size == 4


def test_an_endpoint_is_claimed_for_again_once_half_its_room_is_free() -> None:
    s, _ = scheduler(endpoint_slots=4)
    tickets = [s.admit("ep_a") for _ in range(4)]
    assert all(s.wait("ep_a") for _ in range(2))  # 6 of its 8 held: 2 free
    assert s.claimable("ep_a") == 0  # less than half its room: wait for company
    s.finished(tickets[0], healthy=True)  # type: ignore[arg-type]
    s.finished(tickets[1], healthy=True)  # type: ignore[arg-type]
    assert s.claimable("ep_a") == 4
    assert s.claim_request().rooms == {"ep_a": 4}


def test_an_endpoint_with_work_queued_keeps_its_order_against_publishes() -> None:
    """A publish's handover takes no delivery of an endpoint that has older work waiting
    (in the worker or in the database): the new one queues behind it."""
    s, _ = scheduler(endpoint_slots=2)
    first = s.reserve(["ep_a", "ep_a", "ep_a"])
    assert first == ["ep_a", "ep_a"]  # its room; the third was written to the queue
    tickets = s.settle(first, first)
    assert s.wants_claim("ep_a")  # the queued one may be claimed ahead, to wait its turn
    s.finished(tickets[0], healthy=True)
    assert s.reserve(["ep_a"]) == []  # room again, but older work is queued
    s.finished(tickets[1], healthy=True)
    assert s.wants_claim("ep_a")
    # A claim that got less than the endpoint's room found nothing more due.
    request = s.claim_request()
    s.note_claim(request, {"ep_a": 1})
    assert not s.wants_claim("ep_a")
    assert s.reserve(["ep_a"]) == ["ep_a"]


def test_failures_halve_an_endpoint_s_room_and_successes_earn_it_back() -> None:
    s, _ = scheduler(endpoint_slots=4)
    for _ in range(2):
        ticket = s.admit("ep_dead")
        assert ticket is not None
        s.finished(ticket, healthy=False)
    assert s.limit_of("ep_dead") == 1  # 4 -> 2 -> 1: still probed, one at a time
    ticket = s.admit("ep_dead")
    assert ticket is not None
    s.finished(ticket, healthy=False)
    assert s.limit_of("ep_dead") == 1  # never below one
    probe = s.admit("ep_dead")
    assert probe is not None
    assert s.admit("ep_dead") is None
    assert s.claim_request().rooms == {"ep_dead": 0}
    s.finished(probe, healthy=True)
    assert s.limit_of("ep_dead") == 2
    for _ in range(2):
        ticket = s.admit("ep_dead")
        assert ticket is not None
        s.finished(ticket, healthy=True)
    assert s.limit_of("ep_dead") == 4
    assert s.claim_request().rooms == {}  # recovered and idle: forgotten


def test_a_struggling_endpoint_is_remembered_while_idle_then_forgotten() -> None:
    s, clock = scheduler(endpoint_slots=4, forget_after=60.0)
    ticket = s.admit("ep_dead")
    assert ticket is not None
    s.finished(ticket, healthy=False)
    assert s.claim_request().rooms == {"ep_dead": 2}  # reduced room, nothing running
    clock.now += 61
    other = s.admit("ep_ok")
    assert other is not None
    s.finished(other, healthy=True)  # a sweep runs on finishing
    assert s.limit_of("ep_dead") == 4
    assert s.claim_request().rooms == {}


def test_slow_attempts_move_to_their_own_lane_and_free_worker_slots() -> None:
    s, clock = scheduler(slots=4, endpoint_slots=4, batch=4, slow_after=2.0, slow_slots=3)
    hanging = [s.admit(f"ep_hang{n}") for n in range(4)]
    assert s.free == 0
    assert s.next_change() == 2.0
    clock.now += 2.0
    assert s.free == 3  # three moved to the slow lane; it holds no more
    assert s.running == 4
    assert s.next_change() is None  # the lane is full: nothing else can move
    healthy = s.admit("ep_ok")
    assert healthy is not None
    s.finished(hanging[0], healthy=False)  # a slow one ends: room in the lane again
    clock.now += 2.0
    assert s.free == 3
    s.finished(healthy, healthy=True)
    assert s.running == 3


def test_a_publish_handover_respects_slots_and_endpoint_room() -> None:
    s, _ = scheduler(slots=5, endpoint_slots=2)
    granted = s.reserve(["ep_a", "ep_a", "ep_a", "ep_b", "ep_c", "ep_d"])
    assert granted == ["ep_a", "ep_a", "ep_b", "ep_c", "ep_d"]
    assert s.free == 0
    assert s.room_for("ep_a") == 0
    # The publish committed with the claims of three of them; the rest is given back.
    tickets = s.settle(granted, ["ep_a", "ep_b", "ep_c"])
    assert [t.endpoint_id for t in tickets] == ["ep_a", "ep_b", "ep_c"]
    assert s.free == 2
    assert s.room_for("ep_a") == 1
    for ticket in tickets:
        s.finished(ticket, healthy=True)
    assert s.running == 0
    assert s.free == 5


def test_finishing_twice_counts_once() -> None:
    s, _ = scheduler()
    ticket = s.admit("ep_a")
    assert ticket is not None
    s.finished(ticket, healthy=True)
    s.finished(ticket, healthy=True)
    assert s.running == 0
    assert s.free == 8


def test_pacing_lets_one_go_per_turn_and_spaces_the_rest() -> None:
    paced = pace(now=100.0, not_before=0.0, rate=2.0, wanted=5)
    assert paced.allowed == 1
    assert paced.not_before == 100.5
    assert paced.later == (100.5, 101.0, 101.5, 102.0)
    # Half a second later exactly one more turn is free; nothing is free before it.
    assert pace(now=100.2, not_before=100.5, rate=2.0, wanted=3).allowed == 0
    again = pace(now=100.5, not_before=100.5, rate=2.0, wanted=3)
    assert (again.allowed, again.not_before) == (1, 101.0)


def test_pacing_after_a_quiet_spell_does_not_bank_turns() -> None:
    """An endpoint idle for an hour gets one delivery now, not an hour's worth at once."""
    paced = pace(now=5000.0, not_before=1400.0, rate=10.0, wanted=50)
    assert paced.allowed == 1
    assert paced.not_before == 5000.1
    assert len(paced.later) == 49


def test_pacing_a_fast_rate_lets_a_few_go_within_the_slack() -> None:
    paced = pace(now=10.0, not_before=10.0, rate=1000.0, wanted=20)
    assert paced.allowed == 6  # turns at 10.000, .001, ... .005
    assert paced.later[0] == pytest.approx(10.006)
