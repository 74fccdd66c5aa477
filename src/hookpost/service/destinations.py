"""Where webhooks may go: endpoint URL rules applied when a customer registers or edits a URL.

The same address policy is applied again by the sender at every attempt, after DNS.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Awaitable, Callable, Collection

from hookpost.core.addresses import AddressPolicy, check_all
from hookpost.core.errors import InvalidInput
from hookpost.core.urls import ParsedUrl, UrlProblem, parse_endpoint_url

# (host, port) -> the addresses it resolves to; the sender's resolver uses the same function.
Lookup = Callable[[str, int], Awaitable[list[str]]]
LOOKUP_BUDGET = 2.0  # seconds; a request waits no longer for a name (HOOKPOST_DNS_CHECK_TIMEOUT)


class DestinationRules:
    def __init__(
        self,
        policy: AddressPolicy,
        *,
        https_only: bool,
        own_host_names: Collection[str] = (),
        lookup: Lookup | None = None,
        lookup_budget: float = LOOKUP_BUDGET,
    ) -> None:
        self.policy = policy
        self.https_only = https_only
        self.own_host_names = tuple(own_host_names)
        self.lookup = lookup
        self.lookup_budget = lookup_budget

    def parse(self, url: str) -> ParsedUrl | UrlProblem:
        return parse_endpoint_url(
            url,
            https_only=self.https_only,
            policy=self.policy,
            own_host_names=self.own_host_names,
        )

    async def check_url(self, url: str) -> str:
        """The normalised URL, or InvalidInput naming the rule that failed.

        A host name that resolves to a blocked address is refused now; one that does not
        resolve (yet) is accepted, because every attempt resolves and vets it again. One whose
        name servers do not answer within the lookup budget is refused (`url.dns_timeout`):
        the request must not wait on a stranger's DNS, and the customer can simply retry.
        """
        parsed = self.parse(url)
        if isinstance(parsed, UrlProblem):
            raise InvalidInput.broken(("body", "url"), parsed.problem, f"url.{parsed.rule}")
        if not parsed.host_is_ip and self.lookup is not None:
            addresses = await self._resolve(parsed.host, parsed.port)
            verdict = check_all(self.policy, addresses) if addresses else None
            if verdict is not None and not verdict.allowed:
                raise InvalidInput.at(
                    ("body", "url"),
                    "url_blocked_on_resolve",
                    "url.blocked_address",
                    rule=str(verdict.rule),
                    host=parsed.host,
                    explanation=verdict.explanation,
                )
        return parsed.url

    async def _resolve(self, host: str, port: int) -> list[str]:
        assert self.lookup is not None
        try:
            async with asyncio.timeout(self.lookup_budget):
                return await self.lookup(host, port)
        except OSError as exc:
            # Our budget (TimeoutError) or the resolver's own (errno ETIMEDOUT).
            if isinstance(exc, TimeoutError) or exc.errno == errno.ETIMEDOUT:
                raise self._too_slow(host) from exc
            return []  # not resolvable now: checked again at every attempt

    def _too_slow(self, host: str) -> InvalidInput:
        return InvalidInput.at(
            ("body", "url"),
            "url_dns_timeout",
            "url.dns_timeout",
            host=host,
            seconds=f"{self.lookup_budget:g}",
        )
