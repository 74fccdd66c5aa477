"""The HTTP status catalog support staff read attempts with: name, class and a plain explanation.

It covers every code in the payment-gateway seed's table, including the non-standard 444, 499
and 599, so a customer asking "why did my webhook fail?" gets words, not just a number.
"""

from __future__ import annotations

from dataclasses import dataclass

_CLASS_NAMES = {
    0: "No response",
    1: "Informational",
    2: "Success",
    3: "Redirection",
    4: "Client error",
    5: "Server error",
}

# code: (name, explanation from the point of view of the webhook sender)
_CATALOG: dict[int, tuple[str, str]] = {
    100: ("Continue", "An interim answer; the receiver never sent a final status."),
    101: ("Switching Protocols", "The receiver tried to switch protocols instead of answering."),
    102: ("Processing", "An interim answer; the receiver never sent a final status."),
    200: ("OK", "The receiver accepted the webhook."),
    201: ("Created", "The receiver accepted the webhook and created something from it."),
    202: ("Accepted", "The receiver accepted the webhook for later processing."),
    203: ("Non-authoritative Information", "The webhook was accepted (through a proxy)."),
    204: ("No Content", "The receiver accepted the webhook and sent no body back."),
    205: ("Reset Content", "The receiver accepted the webhook."),
    206: ("Partial Content", "The receiver accepted the webhook."),
    207: ("Multi-Status", "The receiver accepted the webhook."),
    208: ("Already Reported", "The receiver accepted the webhook."),
    226: ("IM Used", "The receiver accepted the webhook."),
    300: (
        "Multiple Choices",
        "The URL points at several resources; redirects are never followed, so update the URL.",
    ),
    301: (
        "Moved Permanently",
        "The URL has moved for good; redirects are never followed, so update the endpoint URL.",
    ),
    302: (
        "Found",
        "The receiver redirected the webhook; redirects are never followed, so use the final URL.",
    ),
    303: (
        "See Other",
        "The receiver redirected the webhook; redirects are never followed, so use the final URL.",
    ),
    304: ("Not Modified", "An answer meant for caches; it does not accept the webhook."),
    305: ("Use Proxy", "The receiver asked for a proxy; webhooks are not sent through proxies."),
    307: (
        "Temporary Redirect",
        "The receiver redirected the webhook; redirects are never followed, so use the final URL.",
    ),
    308: (
        "Permanent Redirect",
        "The URL has moved for good; redirects are never followed, so update the endpoint URL.",
    ),
    400: (
        "Bad Request",
        "The receiver rejected the request as malformed; check its parsing and signature checks.",
    ),
    401: (
        "Unauthorized",
        "The receiver wants credentials; add them as a custom header on the endpoint.",
    ),
    402: ("Payment Required", "The receiver refused the request until a payment is made."),
    403: (
        "Forbidden",
        "The receiver refused the request; a firewall or access rule may be blocking webhooks.",
    ),
    404: ("Not Found", "Nothing answers at this URL path; check the endpoint URL."),
    405: (
        "Method Not Allowed",
        "The receiver does not accept this HTTP method at this URL; check the endpoint's method.",
    ),
    406: ("Not Acceptable", "The receiver cannot produce an answer in an acceptable format."),
    407: ("Proxy Authentication Required", "A proxy in front of the receiver wants credentials."),
    408: ("Request Timeout", "The receiver gave up waiting for the request."),
    409: ("Conflict", "The receiver reported a conflict with its current state."),
    410: ("Gone", "The receiver says this URL is gone for good; the endpoint is disabled."),
    411: ("Length Required", "The receiver requires a Content-Length header."),
    412: ("Precondition Failed", "A precondition the receiver checks was not met."),
    413: (
        "Payload Too Large",
        "The receiver refused the body as too large; raise its body size limit.",
    ),
    414: ("Request-URI Too Long", "The receiver refused the URL as too long."),
    415: ("Unsupported Media Type", "The receiver does not accept application/json bodies."),
    416: ("Requested Range Not Satisfiable", "The receiver could not serve the requested range."),
    417: ("Expectation Failed", "The receiver could not meet an Expect header."),
    418: (
        "I'm a teapot",
        "The receiver answered with a joke status; it did not accept the webhook.",
    ),
    421: (
        "Misdirected Request",
        "The request reached a server that cannot answer for this host name.",
    ),
    422: ("Unprocessable Entity", "The receiver understood the body but refused its content."),
    423: ("Locked", "The resource the receiver needs is locked; a later retry may succeed."),
    424: ("Failed Dependency", "The receiver failed because an earlier request failed."),
    426: (
        "Upgrade Required",
        "The receiver wants a different protocol (often HTTPS); check the URL.",
    ),
    428: ("Precondition Required", "The receiver requires a conditional request."),
    429: ("Too Many Requests", "The receiver is rate limiting; retries wait as long as it asks."),
    431: (
        "Request Header Fields Too Large",
        "The receiver refused the request headers as too large.",
    ),
    444: (
        "Connection Closed Without Response",
        "The receiver (often nginx) closed the connection without answering.",
    ),
    451: ("Unavailable For Legal Reasons", "The receiver refuses this request for legal reasons."),
    499: (
        "Client Closed Request",
        "A proxy in front of the receiver reports that the request was cut off before it answered.",
    ),
    500: (
        "Internal Server Error",
        "The receiver crashed while handling the webhook; check its logs.",
    ),
    501: ("Not Implemented", "The receiver does not support this request."),
    502: (
        "Bad Gateway",
        "A proxy in front of the receiver could not reach the application behind it.",
    ),
    503: (
        "Service Unavailable",
        "The receiver is down or overloaded; retries follow the schedule or its Retry-After.",
    ),
    504: (
        "Gateway Timeout",
        "A proxy in front of the receiver timed out waiting for the application.",
    ),
    505: ("HTTP Version Not Supported", "The receiver does not support HTTP/1.1."),
    506: ("Variant Also Negotiates", "The receiver is misconfigured (content negotiation loop)."),
    507: ("Insufficient Storage", "The receiver ran out of storage."),
    508: ("Loop Detected", "The receiver detected an infinite loop while handling the request."),
    510: ("Not Extended", "The receiver requires extensions to the request."),
    511: (
        "Network Authentication Required",
        "A captive portal or network login is in front of the receiver.",
    ),
    599: (
        "Network Connect Timeout Error",
        "A proxy in front of the receiver timed out connecting to it.",
    ),
}


@dataclass(frozen=True)
class StatusInfo:
    code: int
    name: str
    class_code: int  # 0, 100, 200 ... 500
    class_name: str
    explanation: str

    @property
    def success(self) -> bool:
        return self.class_code == 200


def status_class(code: int) -> int:
    """Svix's StatusCodeClass: 0 for no response, else the hundreds of the code."""
    return code // 100 * 100 if 100 <= code <= 599 else 0


def describe(code: int) -> StatusInfo:
    """Name, class and explanation for any status code (0 means no HTTP response)."""
    klass = status_class(code)
    if code in _CATALOG:
        name, explanation = _CATALOG[code]
    elif code == 0:
        name, explanation = "No response", "No HTTP answer was received; see the error class."
    elif klass:
        name = f"Unknown {klass // 100}xx status"
        explanation = f"A {_CLASS_NAMES[klass // 100].lower()} status hookpost has no name for."
        if klass == 200:
            explanation = "The receiver accepted the webhook with an unusual success status."
    else:
        name, explanation = "Invalid status", "The receiver answered with a status outside 100-599."
    return StatusInfo(code, name, klass, _CLASS_NAMES[klass // 100], explanation)


def known_codes() -> list[int]:
    return sorted(_CATALOG)
