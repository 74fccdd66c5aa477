"""JSON in and out: strict parsing of request bodies and the compact bytes we store and sign.

orjson is fast but turns integers beyond 64 bits into floats; payloads are the customer's data,
so such documents are re-read and re-written with the standard library to keep them exact.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

# Digits as b"0", every other byte as b" ": a run of 19 digits (an integer that may not fit in
# 64 bits) is then one fast substring search; a regular expression scanning for it took ten
# times as long as parsing a 1 KB body.
_DIGIT_RUNS = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
_LONG_NUMBER = b"0" * 19
_LONE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")  # any surrogate escape; checked in full


class JsonError(ValueError):
    """The bytes are not a JSON document hookpost accepts; the message says why."""


def _reject_constant(name: str) -> Any:
    raise JsonError(f"{name} is not valid JSON")


def loads(data: bytes) -> Any:
    """Parse a request body: UTF-8 only, no NaN/Infinity, bounded depth, exact big integers."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if not _has_long_number(data):
            raise JsonError(str(exc)) from None
        # orjson reads integers of hundreds of digits as doubles and calls them infinite;
        # they are valid JSON, which the standard library reads exactly.
        return _exact(data)
    if not _has_long_number(data):
        return value
    return _exact(data)  # orjson turned integers beyond 64 bits into floats


def _has_long_number(data: bytes) -> bool:
    """Whether the bytes hold 19 or more ASCII digits in a row (`\\d{19,}`)."""
    return _LONG_NUMBER in data.translate(_DIGIT_RUNS)


def _exact(data: bytes) -> Any:
    try:
        value = json.loads(data, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise JsonError("the document is nested too deeply") from None
    except ValueError as exc:  # includes Python's limit on integer digits
        raise JsonError(str(exc)) from None
    if _LONE_SURROGATE.search(data) is not None:
        # The standard library accepts an escaped lone surrogate ("\ud800"), which orjson
        # refuses and which no UTF-8 document can carry: refuse it here too.
        try:
            _dumps_exact(value)
        except UnicodeEncodeError:
            raise JsonError("a string contains an unpaired UTF-16 surrogate escape") from None
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise JsonError(f"number {text[:20]}... is too large to represent")
    return value


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON; the bytes a webhook carries are exactly these."""
    try:
        return orjson.dumps(value)
    except TypeError:
        # orjson refuses integers beyond 64 bits; the standard library writes them exactly.
        return _dumps_exact(value)


def _dumps_exact(value: Any) -> bytes:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode()
