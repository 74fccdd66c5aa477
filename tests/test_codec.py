"""The codec refuses what UTF-8 cannot carry and keeps big integers exact (issue 9, item 3)."""

from __future__ import annotations

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
