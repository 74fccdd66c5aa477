"""How one setting is declared: `setting()` binds a field to its variable, parser and default.

Also the parsers for `HOOKPOST_*` values (durations, sizes, booleans, ports, fractions).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any, TypeVar

T = TypeVar("T")
VARIABLE = "hookpost.variable"  # the dataclass field metadata key
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


@dataclass(frozen=True)
class Variable:
    """One `HOOKPOST_*` variable: what reads it, its default as an operator writes it, its doc.

    `default` None means unset (`unset` says how the docs name that); `flag` means the server
    commands also take it as `--<field-name>`.
    """

    env: str
    parse: Callable[[str], Any]
    default: str | None
    doc: str
    unset: str = "unset"
    flag: bool = False

    def shown_default(self) -> str:
        return self.unset if not self.default else f"`{self.default}`"


def setting(
    env: str,
    parse: Callable[[str], Any],
    default: str | None,
    doc: str,
    *,
    unset: str = "unset",
    flag: bool = False,
    secret: bool = False,
) -> Any:
    """A dataclass field whose default is `parse(default)`, so the docs can show `default`.

    A `secret` one is left out of the settings' repr, so printing them never shows it.
    """
    variable = Variable(env, parse, default, doc, unset, flag)
    value = None if default is None else parse(default)
    return dataclasses.field(default=value, repr=not secret, metadata={VARIABLE: variable})


def variable_of(field: dataclasses.Field[Any]) -> Variable:
    variable = field.metadata.get(VARIABLE)
    if not isinstance(variable, Variable):
        raise TypeError(f"setting {field.name} is not declared with setting()")
    return variable


def parse_duration(text: str) -> float:
    """Seconds from `30`, `1.5`, `250ms`, `15s`, `5m`, `12h` or `5d`."""
    match = _DURATION.fullmatch(text)
    if not match:
        raise ValueError(f"expected a duration such as 30, 15s, 5m, 12h or 5d, got {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*(b|kb|kib|mb|mib)?\s*", text.lower())
    if not match:
        raise ValueError(f"expected a size such as 1048576, 512KiB or 1MiB, got {text!r}")
    unit = {"kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2}.get(match.group(2) or "", 1)
    return int(match.group(1)) * unit


def parse_port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ValueError(f"a port is a number from 0 to 65535, got {text.strip()!r}")
    return port


def parse_fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise ValueError("must be at least 0 and below 1")
    return value


def parse_log_level(text: str) -> str:
    level = text.strip().lower()
    if level not in {"debug", "info", "warning", "error"}:
        raise ValueError("must be debug, info, warning or error")
    return level


def parse_log_format(text: str) -> str:
    shape = text.strip().lower()
    if shape not in {"text", "json"}:
        raise ValueError("must be text or json")
    return shape


def parse_http_client(text: str) -> str:
    client = text.strip().lower()
    if client not in {"builtin", "aiohttp"}:
        raise ValueError("must be builtin or aiohttp")
    return client


def parse_dns_servers(text: str) -> tuple[str, ...]:
    """Name servers as c-ares takes them: `1.2.3.4`, `1.2.3.4:5353`, `::1` or `[::1]:5353`."""
    servers = []
    for raw in (part.strip() for part in text.split(",")):
        if not raw:
            continue
        host, port = raw, None
        if raw.startswith("["):
            host, _, rest = raw[1:].partition("]")
            port = rest.removeprefix(":") if rest else None
        elif raw.count(":") == 1:
            host, port = raw.split(":")
        try:
            ip_address(host)
            if port is not None and not 0 < int(port) <= 65535:
                raise ValueError
        except ValueError:
            raise ValueError(
                f"expected name server addresses such as 10.0.0.2 or 10.0.0.2:5353, got {raw!r}"
            ) from None
        servers.append(raw)
    return tuple(servers)


def positive(parse: Callable[[str], T]) -> Callable[[str], T]:
    def parse_positive(text: str) -> T:
        value = parse(text)
        if not value > 0:  # type: ignore[operator]
            raise ValueError("must be greater than zero")
        return value

    return parse_positive


def text(raw: str) -> str:
    return raw.strip()


def parse_base_url(text: str) -> str:
    url = text.strip().rstrip("/")
    if not re.fullmatch(r"https?://[^\s\"'<>]+", url):
        raise ValueError(f"expected an http:// or https:// URL, got {text!r}")
    return url


def parse_origins(text: str) -> tuple[str, ...]:
    """CSP frame-ancestors sources: origins such as https://dashboard.example.com, or 'self'."""
    sources = tuple(s for s in text.replace(",", " ").split() if s)
    for source in sources:
        if source != "'self'" and not re.fullmatch(r"https?://[A-Za-z0-9.*-]+(:\d+)?", source):
            raise ValueError(f"expected origins such as https://app.example.com, got {source!r}")
    return sources


def parse_colour(text: str) -> str:
    colour = text.strip()
    if not re.fullmatch(r"#[0-9A-Fa-f]{6}", colour):
        raise ValueError(f"expected a colour such as #2456d6, got {text!r}")
    return colour
