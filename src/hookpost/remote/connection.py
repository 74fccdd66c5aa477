"""Where the remote commands connect and with which token: flags, environment, config file.

Flags win over HOOKPOST_SERVER_URL / HOOKPOST_API_TOKEN, which win over the config file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

# httpx is imported where a request is made, not here: every `hookpost` command (`serve`
# included) imports this module to register the remote commands, and httpx costs a server
# process megabytes it never uses.
DEFAULT_SERVER = "http://127.0.0.1:8071"
USER_AGENT = "hookpost-cli"


class RemoteError(Exception):
    """The API refused a request, or could not be reached; the message is for the user."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def refused(self) -> bool:
        """A 4xx other than 429: asking again will not help."""
        return self.status is not None and 400 <= self.status < 500 and self.status != 429


def config_path(environ: Mapping[str, str]) -> Path:
    explicit = environ.get("HOOKPOST_CLI_CONFIG")
    if explicit:
        return Path(explicit)
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hookpost" / "cli.toml"


@dataclass(frozen=True)
class Connection:
    server_url: str
    token: str

    @classmethod
    def resolve(
        cls,
        server_url: str | None,
        token: str | None,
        environ: Mapping[str, str] | None = None,
    ) -> Connection:
        env = os.environ if environ is None else environ
        path = config_path(env)
        stored: dict[str, Any] = {}
        if path.exists():
            try:
                stored = tomllib.loads(path.read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise RemoteError(f"cannot read {path}: {exc}") from None
        server = server_url or env.get("HOOKPOST_SERVER_URL") or stored.get("server_url")
        key = token or env.get("HOOKPOST_API_TOKEN") or stored.get("api_token")
        if not key:
            raise RemoteError(
                f"no API token: pass --token, set HOOKPOST_API_TOKEN, or put api_token in {path}"
            )
        return cls(str(server or DEFAULT_SERVER).rstrip("/"), str(key))

    def client(self, timeout: float | None = 30.0) -> httpx.Client:
        import httpx  # noqa: PLC0415 - see the module's imports

        return httpx.Client(
            base_url=self.server_url,
            headers={"authorization": f"Bearer {self.token}", "user-agent": USER_AGENT},
            timeout=timeout,
        )


def checked(response: httpx.Response) -> Any:
    """The JSON body of a 2xx answer; RemoteError with the API's own words otherwise."""
    if response.is_success:
        return response.json() if response.content else None
    try:
        body = response.json()
        detail = body.get("detail", body) if isinstance(body, dict) else body
    except ValueError:
        detail = response.text[:200]
    request = response.request
    raise RemoteError(
        f"{request.method} {request.url.path}: {response.status_code} {detail}",
        response.status_code,
    )


def call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    import httpx  # noqa: PLC0415 - see the module's imports

    try:
        return checked(client.request(method, path, **kwargs))
    except httpx.TransportError as exc:
        raise RemoteError(f"cannot reach {client.base_url}: {exc}") from None


def pages(client: httpx.Client, path: str, params: Mapping[str, Any], limit: int) -> list[Any]:
    """Up to `limit` items of a Svix-style list, following its iterator."""
    items: list[Any] = []
    iterator = None
    while len(items) < limit:
        query = {**params, "limit": min(250, limit - len(items))}
        if iterator:
            query["iterator"] = iterator
        page = call(client, "GET", path, params=query)
        items += page["data"]
        iterator = page.get("iterator")
        if page.get("done", True) or not page["data"]:
            return items
    return items
