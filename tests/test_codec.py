"""The codec refuses what UTF-8 cannot carry and keeps big integers exact (issue 9, item 3)."""

from __future__ import annotations

import re

import pytest

from hookpost import codec
from hookpost.core.errors import InvalidInput
from hookpost.service.messages import MessageService, Publication
from hookpost.store import Stores


@pytest.mark.parametrize(
    "document",
    [
        b'{"n":123456789012345678901234,"s":"\\ud800"}',
        b'{"n":123456789012345678901234,"s":"x\\uDFFFy"}',
        b'{"n":123456789012345678901234,"\\udbff":1}',
        b'[1234567890123456789012, "\\ud83d"]',
    ],
)
def test_a_lone_surrogate_is_refused_on_the_exact_integer_path(document: bytes) -> None:
    with pytest.raises(codec.JsonError, match="surrogate"):
        codec.loads(document)


@pytest.mark.parametrize(
    ("document", "written"),
    [
        (
            b'{"n":123456789012345678901234,"s":"\\ud83d\\ude00"}',
            '{"n":123456789012345678901234,"s":"\U0001f600"}'.encode(),
        ),
        (b'{"n":123456789012345678901234,"s":"\\\\ud800"}', None),  # an escaped backslash
    ],
)
def test_pairs_and_lookalikes_pass_exactly(document: bytes, written: bytes | None) -> None:
    assert codec.dumps(codec.loads(document)) == (written or document)


async def test_publishing_text_utf8_cannot_carry_is_invalid_input(store: Stores) -> None:
    """A caller inside the process (not through the codec) gets a 422, not a crash."""
    service = MessageService(
        store.lookups, store.publishing, store.messages, 1_000_000, lambda: None
    )
    org = await store.access.create_organization("codec")
    for publication, loc in [
        (Publication("t.x", {"s": "\ud800"}), ("body", "payload")),
        (
            Publication("t.x", {}, raw_payload="\udc00"),
            ("body", "transformationsParams", "rawPayload"),
        ),
    ]:
        with pytest.raises(InvalidInput) as caught:
            await service.publish(org.id, "some-app", publication)
        assert caught.value.problems[0].loc == loc


@pytest.mark.parametrize(
    ("document", "exact"),
    [
        (b'{"n":1234567890123456789}', 1234567890123456789),  # 19 digits: fits, still exact
        (b'{"n":12345678901234567890}', 12345678901234567890),  # beyond 64 bits
        (b'{"n":-123456789012345678901234567890}', -123456789012345678901234567890),
        (b'{"n":[1,2,123456789012345678901]}', [1, 2, 123456789012345678901]),
        (b'{"s":"1234567890123456789012","n":9007199254740993}', 9007199254740993),
        (b'{"n":123456789012345678}', 123456789012345678),  # 18 digits: orjson's own
    ],
)
def test_long_integers_are_read_exactly(document: bytes, exact: object) -> None:
    assert codec.loads(document)["n"] == exact


def test_the_long_number_scan_finds_exactly_runs_of_19_ascii_digits() -> None:
    """The scan agrees with the regular expression it replaced on every kind of neighbour."""
    pattern = re.compile(rb"\d{19,}")
    samples = [b"", b"1" * 18, b"1" * 19, b"x" + b"9" * 19 + b"x", b"1" * 18 + b"a" + b"1" * 18]
    samples += [b"\xd9\xa0" * 19, bytes(range(256)) * 2, b"0" * 40, b"12345678901234567.89"]
    samples += [b"1" * 9 + bytes([b]) + b"1" * 9 for b in range(256)]
    for sample in samples:
        assert codec._has_long_number(sample) == (pattern.search(sample) is not None), sample
