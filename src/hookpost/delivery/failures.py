"""What a client-side failure is called: each failure code's error class and the sentence a
customer reads. Written once for both transports (`delivery.http1` and `delivery.aiohttp_client`),
whose classifiers only decide which code an exception is.
"""

from __future__ import annotations

from typing import Protocol

from hookpost.core.outcomes import ErrorClass, FailureCode

Failure = tuple[ErrorClass, FailureCode, str]


class Budgets(Protocol):
    """The sender's limits the sentences name (`sender.SenderLimits`)."""

    @property
    def request_timeout(self) -> float: ...
    @property
    def connect_timeout(self) -> float: ...


# {reason}: the exception in short; {connect}/{request}: the budgets; {host}/{port}: where to.
_WORDING: dict[FailureCode, tuple[ErrorClass, str]] = {
    FailureCode.DNS_UNRESOLVED: (ErrorClass.DNS, "the host name could not be resolved ({reason})"),
    FailureCode.TLS_FAILED: (ErrorClass.TLS, "TLS failed: {reason}"),
    FailureCode.CONNECT_TIMEOUT: (ErrorClass.TIMEOUT, "connecting took longer than {connect}s"),
    FailureCode.RESPONSE_TIMEOUT: (ErrorClass.TIMEOUT, "no complete answer within {request}s"),
    FailureCode.CONNECTION_REFUSED: (ErrorClass.REFUSED, "connection refused by {host}:{port}"),
    FailureCode.CONNECT_FAILED: (ErrorClass.NETWORK, "could not connect: {reason}"),
    FailureCode.SERVER_DISCONNECTED: (
        ErrorClass.DISCONNECTED,
        "the server closed the connection without answering",
    ),
    FailureCode.CONNECTION_RESET: (ErrorClass.RESET, "the connection was reset by the server"),
    FailureCode.INVALID_HTTP: (
        ErrorClass.INVALID_RESPONSE,
        "the answer was not valid HTTP: {reason}",
    ),
    FailureCode.NETWORK_ERROR: (ErrorClass.NETWORK, "network error: {reason}"),
}


def failure(
    code: FailureCode, exc: BaseException, limits: Budgets, *, reason: str | None = None
) -> Failure:
    """The class, the code and the sentence of `exc`, classified as `code`."""
    kind, wording = _WORDING[code]
    message = wording.format(
        reason=short_reason(exc) if reason is None else reason,
        connect=f"{limits.connect_timeout:g}",
        request=f"{limits.request_timeout:g}",
        host=getattr(exc, "host", ""),
        port=getattr(exc, "port", ""),
    )
    return kind, code, message


def short_reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
