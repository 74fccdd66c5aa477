"""Ids: Svix-style millisecond KSUIDs, time-sortable, with a prefix per object kind."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from hookpost.core import ids

MOMENT = datetime(2026, 11, 21, 22, 14, 34, 123000, tzinfo=UTC)


def test_the_largest_ksuid_encodes_like_every_ksuid_library() -> None:
    assert ids._encode(b"\xff" * 20) == "aWgEPTl1tmebfsQzFP4bxwgy80V"
    assert ids._encode(b"\x00" * 20) == "0" * 27


def test_an_id_has_the_svix_shape_and_its_creation_time() -> None:
    made = ids.make_id(ids.APPLICATION, MOMENT, os.urandom(15))
    assert len(made) == 31
    assert ids.is_valid(ids.APPLICATION, made)
    assert not ids.is_valid(ids.ENDPOINT, made)
    assert ids.created_at(made, ids.APPLICATION) == MOMENT.replace(microsecond=120000)


@given(st.binary(min_size=20, max_size=20))
def test_encoding_round_trips(raw: bytes) -> None:
    encoded = ids._encode(raw)
    assert len(encoded) == ids.ENCODED_LENGTH
    assert ids._decode(encoded) == int.from_bytes(raw, "big")


@given(st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2100, 1, 1)))
def test_later_ids_sort_after_earlier_bounds(moment: datetime) -> None:
    at = moment.replace(tzinfo=UTC)
    made = ids.make_id(ids.MESSAGE, at, os.urandom(15))
    assert ids.bound_id(ids.MESSAGE, at, upper=False) <= made
    assert made <= ids.bound_id(ids.MESSAGE, at, upper=True)
    later = at + timedelta(milliseconds=4)
    assert made < ids.bound_id(ids.MESSAGE, later, upper=False)


def test_times_outside_the_id_range_clamp_instead_of_overflowing() -> None:
    early = ids.bound_id(ids.MESSAGE, datetime(1970, 1, 1, tzinfo=UTC), upper=False)
    late = ids.bound_id(ids.MESSAGE, datetime(2999, 1, 1, tzinfo=UTC), upper=True)
    assert early == ids.MESSAGE + "0" * 27
    assert ids.is_valid(ids.MESSAGE, late)


def test_malformed_ids_are_not_valid() -> None:
    for value in ["app_", "app_" + "z" * 27, "app_" + "!" * 27, "app_" + "0" * 26, "ep_x"]:
        assert not ids.is_valid(ids.APPLICATION, value)
