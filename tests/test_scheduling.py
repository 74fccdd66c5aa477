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


# -- probation: endpoints that have not answered well lately share a part of the slots ---------


def on_probation(**policy: float) -> tuple[Scheduler, FakeClock]:
    defaults: dict[str, float] = {"probation_slots": 2, "probation_after": 0.5}
    return scheduler(**{**defaults, **policy})


def prove(s: Scheduler, endpoint_id: str) -> None:
    ticket = s.admit(endpoint_id)
    assert ticket is not None
    s.finished(ticket, healthy=True)


def test_endpoints_on_probation_take_only_their_part_of_the_slots() -> None:
    s, _ = on_probation(slots=8, probation_slots=2)
    assert not s.trusted("ep_new")
    first, second = s.admit("ep_new1"), s.admit("ep_new2")
    assert first is not None
    assert second is not None
    assert first.probation
    assert second.probation
    assert s.admit("ep_new3") is None  # probation is full...
    assert s.keep_for_probation("ep_new3")  # ...so the worker keeps the claim for later
    assert s.free == 6  # ...while the rest of the slots stay for trusted endpoints
    s.release_probation()
    s.finished(first, healthy=True)
    assert s.trusted("ep_new1")  # answered well: out of probation
    assert s.admit("ep_new3") is not None


def test_while_probation_is_full_a_claim_names_only_trusted_endpoints() -> None:
    s, _ = on_probation(slots=8, endpoint_slots=4, probation_slots=2)
    prove(s, "ep_good")
    assert not s.claim_request().listed  # probation has room: the claim walks everyone
    hanging = [s.admit("ep_dead1"), s.admit("ep_dead2")]
    assert all(hanging)
    request = s.claim_request()
    assert request.listed
    assert request.room == 0  # endpoints it does not name get nothing
    assert request.rooms == {"ep_good": 8}  # one share running, one ahead
    assert request.size == 6


def test_a_trusted_claim_names_endpoints_with_more_due_first_then_the_most_recent() -> None:
    s, _ = on_probation(slots=3, batch=1, probation_slots=1)
    for n in range(6):
        prove(s, f"ep_{n}")
    assert s.admit("ep_dead") is not None  # probation is full
    assert s.admit("ep_5") is not None
    granted = s.reserve(["ep_1", "ep_1"])  # one slot left: the second waits in the database
    s.settle(granted, [])
    request = s.claim_request()
    assert request.size == 1
    assert list(request.rooms) == ["ep_1", "ep_5", "ep_4", "ep_3"]  # window: 4 per delivery


def test_an_attempt_on_probation_turns_slow_sooner_and_frees_probation() -> None:
    s, clock = on_probation(slots=8, probation_slots=1, probation_after=0.5, slow_after=2.0)
    prove(s, "ep_good")
    trusted = s.admit("ep_good")
    hanging = s.admit("ep_dead")
    assert trusted is not None
    assert hanging is not None
    assert s.probation_free == 0
    assert s.next_change() == 0.5
    clock.now += 0.5
    assert s.probation_free == 1  # the hanging attempt is in the slow lane now
    assert hanging.slow
    assert not trusted.slow
    assert s.next_change() == 1.5  # the trusted attempt turns slow at 2 s
    clock.now += 1.5
    assert s.free == 8
    assert not s.trusted("ep_good")  # a trusted endpoint that turned slow is on probation


def test_failing_puts_an_endpoint_back_on_probation() -> None:
    s, _ = on_probation()
    prove(s, "ep_a")
    ticket = s.admit("ep_a")
    assert ticket is not None
    assert not ticket.probation
    s.finished(ticket, healthy=False)
    assert not s.trusted("ep_a")
    again = s.admit("ep_a")
    assert again is not None
    assert again.probation


def test_a_publish_handover_gives_endpoints_on_probation_only_probation_s_room() -> None:
    s, _ = on_probation(slots=8, endpoint_slots=4, probation_slots=2)
    prove(s, "ep_good")
    granted = s.reserve(["ep_new", "ep_new", "ep_new", "ep_good"])
    assert granted == ["ep_new", "ep_new", "ep_good"]
    assert s.probation_free == 0
    tickets = s.settle(granted, granted)
    assert [t.probation for t in tickets] == [True, True, False]
    assert s.probation_free == 0  # now running instead of reserved
    for ticket in tickets:
        s.finished(ticket, healthy=True)
    assert s.probation_free == 2
    assert s.trusted("ep_new")


def test_trusted_endpoints_are_forgotten_after_a_long_silence() -> None:
    s, clock = on_probation(forget_after=60.0)
    prove(s, "ep_old")
    clock.now += 61
    prove(s, "ep_new")  # a sweep runs on finishing
    assert not s.trusted("ep_old")
    assert s.trusted("ep_new")


def test_without_probation_every_endpoint_is_trusted() -> None:
    s, _ = scheduler(slots=4)
    tickets = [s.admit(f"ep_{n}") for n in range(4)]
    assert all(t is not None and not t.probation for t in tickets)
    assert not s.claim_request().listed
