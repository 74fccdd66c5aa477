"""Who may call the API: API keys (shown once, stored as SHA-256 hashes) and idempotency.

Keys look like `hp_sk_<43 base62 chars>` (256 bits), with no dots, so Svix SDKs never try
to read a region out of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta

from hookpost.core.errors import AuthenticationFailed
from hookpost.core.models import ApiKey, IdempotentAnswer, Organization
from hookpost.store.ports import Credentials

KEY_PREFIX = "hp_sk_"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
MAX_TOKEN_LENGTH = 512
CACHE_SECONDS = 5.0
MAX_CACHED_KEYS = 10_000


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def random_token(prefix: str, entropy: bytes) -> str:
    """`prefix` and 43 base-62 characters of `entropy` (32 bytes: 256 bits)."""
    number = int.from_bytes(entropy, "big")
    chars = []
    for _ in range(43):
        number, digit = divmod(number, 62)
        chars.append(_ALPHABET[digit])
    return prefix + "".join(chars)


def new_token(entropy: bytes) -> str:
    return random_token(KEY_PREFIX, entropy)


class AccessService:
    def __init__(
        self,
        store: Credentials,
        clock: Callable[[], datetime],
        entropy: Callable[[int], bytes],
        monotonic: Callable[[], float],
    ) -> None:
        self._store = store
        self._clock = clock
        self._entropy = entropy
        self._monotonic = monotonic
        # Verified key hashes, briefly, so a burst of publishes costs one lookup; revocation
        # therefore takes effect within CACHE_SECONDS.
        self._cache: dict[str, tuple[str, float]] = {}

    async def bootstrap(self, configured_token: str | None) -> tuple[Organization, str | None]:
        """Make sure the default organization exists and can be reached.

        Returns a newly generated token (to print once) when none was configured and no key
        exists yet; the token itself is never stored.
        """
        org = await self.default_organization()
        if configured_token:
            await self._store.add_api_key(
                org.id, hash_token(configured_token), _hint(configured_token), "HOOKPOST_API_TOKEN"
            )
            return org, None
        if await self._store.list_api_keys():
            return org, None
        token, _ = await self.create_key(org.id, "generated on first start")
        return org, token

    async def default_organization(self) -> Organization:
        """The organization the operator's keys belong to, created if it does not exist yet."""
        return await self._store.ensure_organization()

    async def create_key(self, org_id: str, name: str) -> tuple[str, ApiKey]:
        token = new_token(self._entropy(32))
        key = await self._store.add_api_key(org_id, hash_token(token), _hint(token), name)
        return token, key

    async def authenticate(self, authorization: str | None) -> str:
        """The organization a bearer token belongs to; AuthenticationFailed otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH:
            raise AuthenticationFailed(message_id="invalid_token")
        digest = hash_token(token)
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > self._monotonic():
            return cached[0]
        # Looking a key up by its SHA-256 never compares the secret itself: timing can reveal
        # at most a prefix of a hash, which does not help anyone forge a token.
        key = await self._store.find_api_key(digest)
        if key is None or key.revoked_at is not None:
            raise AuthenticationFailed(message_id="invalid_token")
        if len(self._cache) > MAX_CACHED_KEYS:
            self._cache.clear()
        self._cache[digest] = (key.org_id, self._monotonic() + CACHE_SECONDS)
        return key.org_id

    async def list_keys(self) -> list[ApiKey]:
        return await self._store.list_api_keys()

    async def revoke_key(self, key_id: str) -> bool:
        self._cache.clear()
        return await self._store.revoke_api_key(key_id)

    async def claim_idempotency_key(
        self, key_hash: str, *, lock_for: timedelta, keep_for: timedelta
    ) -> IdempotentAnswer | None:
        return await self._store.claim_idempotency_key(
            key_hash, lock_for=lock_for, keep_for=keep_for
        )

    async def finish_idempotency_key(self, key_hash: str, status_code: int, body: bytes) -> None:
        await self._store.finish_idempotency_key(key_hash, status_code, body)

    async def release_idempotency_key(self, key_hash: str) -> None:
        await self._store.release_idempotency_key(key_hash)


def _hint(token: str) -> str:
    return token[: len(KEY_PREFIX) + 4]
