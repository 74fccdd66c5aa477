"""How hookpost reaches its database: the PostgreSQL URL read as libpq reads it (SSL options
included), and why a database could not be opened at start-up, in a sentence an operator can act on.
"""

from __future__ import annotations

import errno
import os
import socket
import sqlite3
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import sqlalchemy as sa
from alembic.util import CommandError
from sqlalchemy import exc

# libpq's sslmode values (https://www.postgresql.org/docs/current/libpq-ssl.html).
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
SSL_FILES = ("sslrootcert", "sslcert", "sslkey", "sslcrl")


class DatabaseSetupError(Exception):
    """The database URL cannot work as given; the message says why and what to do."""


def postgres_dsn(url: sa.URL) -> str:
    """The URL as a libpq connection string, for asyncpg, which reads its SSL options
    (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `sslcrl`, `sslpassword`) the way libpq does.

    `sslrootcert=system` (libpq 16) means the system's certificate authorities: asyncpg only
    reads files, so it is given the system's bundle, with `verify-full` as libpq requires.
    """
    query = dict(url.query)
    query.pop("connect_timeout", None)  # libpq's; asyncpg takes it as an argument
    if query.get("sslrootcert") == "system":
        query["sslrootcert"] = _system_ca_file()
        query["sslmode"] = "verify-full"  # check_postgres_url refused any weaker mode
    return url.set(drivername="postgresql", query=query).render_as_string(hide_password=False)


def connect_timeout(url: sa.URL) -> float | None:
    """libpq's `connect_timeout` (seconds) from the URL, when given."""
    raw = url.query.get("connect_timeout")
    if raw is None:
        return None
    try:
        seconds = float(raw if isinstance(raw, str) else raw[0])
    except ValueError:
        seconds = 0
    if not seconds > 0:
        raise DatabaseSetupError(f"connect_timeout={raw} is not a number of seconds above 0")
    return seconds


def check_postgres_url(url: sa.URL) -> None:
    """Refuse SSL options libpq would refuse, before any connection is tried."""
    query = url.query
    connect_timeout(url)
    mode = query.get("sslmode")
    if mode is not None and mode not in SSL_MODES:
        raise DatabaseSetupError(
            f"sslmode={mode} is not a libpq SSL mode: use one of {', '.join(SSL_MODES)}"
        )
    if query.get("sslrootcert") == "system" and mode not in {None, "verify-full"}:
        raise DatabaseSetupError(
            f"sslmode={mode} may not be used with sslrootcert=system (as in libpq): "
            "use sslmode=verify-full or leave sslmode out"
        )
    for name in SSL_FILES:
        value = query.get(name)
        if not isinstance(value, str) or (name == "sslrootcert" and value == "system"):
            continue
        path = Path(value).expanduser()
        if not path.is_file():
            raise DatabaseSetupError(f"{name}={value}: no such file; give the path of a PEM file")
        if not os.access(path, os.R_OK):
            raise DatabaseSetupError(f"{name}={value}: cannot be read by this user")
    try:
        _ = urlsplit(postgres_dsn(url)).port  # what asyncpg will parse, read now
    except ValueError as error:
        raise DatabaseSetupError(
            f"the URL cannot be read ({error}): write it as "
            "postgresql://user:password@host:5432/database (percent-encode special characters)"
        ) from None


def _system_ca_file() -> str:
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return candidate
    raise DatabaseSetupError(
        "sslrootcert=system: this machine has no system certificate bundle; "
        "give sslrootcert the path of the server's CA certificate"
    )


def explain(error: BaseException, url: sa.URL) -> str | None:
    """Why opening the database at `url` failed, and what to do; None for a bug of ours."""
    if url.get_backend_name() == "sqlite":
        return _explain_sqlite(error, url)
    return _explain_postgres(error, url)


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and what it wraps (SQLAlchemy's .orig, our translations' __cause__)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        if isinstance(current, exc.StatementError) and isinstance(orig, BaseException):
            yield orig
        current = current.__cause__ or current.__context__


Rule = Callable[[BaseException, str], bool]


def _is(*kinds: type[BaseException]) -> Rule:
    return lambda error, _text: isinstance(error, kinds)


def _says(fragment: str) -> Rule:
    return lambda _error, text: fragment in text.lower()


def _unreachable(error: BaseException, _text: str) -> bool:
    return isinstance(error, OSError) and error.errno in {errno.EHOSTUNREACH, errno.ENETUNREACH}


# What a failure to open PostgreSQL means and what to do, first match wins (an error is tried
# with everything it wraps). Fields: {where} host:port, {host}, {database}, {user}, {text} the
# driver's first line. Order matters: certificate errors and SSL refusals are OSErrors too.
POSTGRES_FAILURES: tuple[tuple[Rule, str], ...] = (
    (
        _is(asyncpg.InvalidCatalogNameError),
        'PostgreSQL at {where} has no database "{database}": create it (createdb {database}) '
        "or fix the database name",
    ),
    (
        _is(asyncpg.InvalidPasswordError),
        'PostgreSQL at {where} refused the password of role "{user}": fix the password',
    ),
    (
        _is(asyncpg.InvalidAuthorizationSpecificationError),
        'PostgreSQL at {where} refused role "{user}" ({text}): create the role, fix the user '
        "name, or allow it in pg_hba.conf",
    ),
    (
        _is(asyncpg.TooManyConnectionsError),
        "PostgreSQL at {where} has no connection left ({text}): retry, or raise its "
        "max_connections",
    ),
    (
        _is(asyncpg.CannotConnectNowError),
        "PostgreSQL at {where} is starting or stopping ({text}): try again shortly",
    ),
    (
        _is(asyncpg.UndefinedObjectError, asyncpg.CantChangeRuntimeParamError),
        "PostgreSQL refused a parameter of the URL ({text}): remove or fix it",
    ),
    (
        _is(asyncpg.exceptions.ClientConfigurationError),
        "the URL's SSL options cannot be used ({text}): fix sslmode or the certificate paths",
    ),
    (
        _is(ssl.SSLCertVerificationError),
        "the certificate of PostgreSQL at {where} is not trusted ({text}): give its CA in "
        "sslrootcert, or use sslmode=require to encrypt without verifying",
    ),
    (
        _is(ssl.SSLError),
        "the TLS handshake with PostgreSQL at {where} failed ({text}): check sslmode and the "
        "certificates",
    ),
    (
        _says("rejected ssl upgrade"),
        "PostgreSQL at {where} does not accept SSL connections: enable ssl on the server, or "
        "use sslmode=prefer or disable",
    ),
    (_is(socket.gaierror), 'the host "{host}" is not known: fix the host name'),
    (
        _is(TimeoutError),
        "PostgreSQL at {where} did not answer in time: check the host, port and firewall",
    ),
    (
        _is(ConnectionRefusedError),
        "nothing accepts connections at {where}: start PostgreSQL there or fix the host and port",
    ),
    (
        lambda error, text: isinstance(error, OSError) and "refused" in text.lower(),
        "nothing accepts connections at {where}: start PostgreSQL there or fix the host and port",
    ),
    (_unreachable, "{where} cannot be reached ({text}): check the host and the network"),
    (_is(asyncpg.PostgresError), "PostgreSQL at {where} refused to open the database: {text}"),
)


def _explain_postgres(error: BaseException, url: sa.URL) -> str | None:
    fields = {
        "where": f"{url.host or 'localhost'}:{url.port or 5432}",
        "host": url.host or "localhost",
        "database": url.database or "(default)",
        "user": url.username or "(default)",
    }
    causes = list(_causes(error))
    for cause in causes:
        if isinstance(cause, DatabaseSetupError):
            return str(cause)
        if isinstance(cause, CommandError):
            return _explain_revision(_first_line(cause))
    for rule, message in POSTGRES_FAILURES:
        for cause in causes:
            text = _first_line(cause)
            if rule(cause, text):
                return message.format(text=text, **fields)
    return None


def _first_line(error: BaseException) -> str:
    if isinstance(error, ssl.SSLCertVerificationError) and error.verify_message:
        return str(error.verify_message)
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__


def _explain_revision(text: str) -> str:
    if "Can't locate revision" in text:
        return (
            "the database's schema is newer than this hookpost knows "
            f"({text}): run the hookpost version that migrated it, or a newer one"
        )
    return f"the schema migration failed: {text}"


def _explain_sqlite(error: BaseException, url: sa.URL) -> str | None:
    path = Path(url.database or "")
    shown = str(path.absolute()) if url.database else "(in memory)"
    for cause in _causes(error):
        if isinstance(cause, CommandError):
            return _explain_revision(str(cause))
        if not isinstance(cause, sqlite3.Error):
            continue
        text = str(cause)
        if "unable to open" in text or "readonly" in text or "read-only" in text:
            place = _sqlite_place_problem(path, shown)
            return place or f"cannot open the SQLite file {shown}: {text}"
        if "not a database" in text:
            return f"{shown} is not a SQLite database: choose another path"
        if "locked" in text or "busy" in text:
            return f"the SQLite file {shown} is locked by another program: stop it or wait"
        return f"the SQLite file {shown} cannot be used: {text}"
    return None


def _sqlite_place_problem(path: Path, shown: str) -> str | None:
    folder = path.absolute().parent
    if not folder.is_dir():
        return (
            f"the folder of the SQLite file {shown} does not exist: create {folder} "
            "or choose another path"
        )
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return (
            f"the SQLite file {shown} is not writable by this user: fix its permissions "
            "or choose another path"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        return (
            f"this user cannot write in {folder} (SQLite creates {path.name} and its -wal file "
            "there): fix the folder's permissions or choose another path"
        )
    return None
