"""Remote commands of the CLI: lists as tables, one object as JSON, where the token comes from.

They talk to a real `hookpost serve` over HTTP only.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from svix.api import ApplicationIn, EndpointIn, MessageIn, Svix, SvixOptions

from hookpost.remote.connection import DEFAULT_SERVER, Connection, RemoteError
from tests.support.cli import hookpost
from tests.support.receiver import Receiver
from tests.support.server import TOKEN, ServerProcess
from tests.support.waiting import eventually


def test_lists_are_tables_and_objects_are_json(server: ServerProcess, receiver: Receiver) -> None:
    hp = Svix(TOKEN, SvixOptions(server_url=server.url))
    app = hp.application.create(ApplicationIn(name="cli-remote", uid="cli-remote-app"))
    endpoint = hp.endpoint.create(app.id, EndpointIn(url=f"{receiver.url}/hook"))
    message = hp.message.create(app.id, MessageIn(event_type="cli.test", payload={"k": "v"}))
    receiver.wait_for(1)

    apps = hookpost(server, "apps", "list", "--limit", "250").stdout
    assert app.id in apps
    assert "cli-remote-app" in apps
    assert json.loads(hookpost(server, "apps", "get", app.id).stdout)["name"] == "cli-remote"

    endpoints = hookpost(server, "endpoints", "list", "--app", app.id).stdout
    assert endpoint.id in endpoints
    assert f"{receiver.url}/hook" in endpoints
    shown = json.loads(hookpost(server, "endpoints", "get", endpoint.id, "--app", app.id).stdout)
    assert shown["id"] == endpoint.id

    messages = hookpost(server, "messages", "list", "--app", app.id).stdout
    assert message.id in messages
    assert "cli.test" in messages
    one = json.loads(hookpost(server, "messages", "get", message.id, "--app", app.id).stdout)
    assert one["payload"] == {"k": "v"}

    attempts = eventually(
        lambda: (
            (
                out := hookpost(
                    server, "attempts", "list", "--app", app.id, "--msg", message.id
                ).stdout
            )
            and "atmpt_" in out
            and out
        )
    )
    assert "200" in attempts
    attempt_id = next(word for word in attempts.split() if word.startswith("atmpt_"))
    detail = hookpost(server, "attempts", "get", attempt_id, "--app", app.id, "--msg", message.id)
    assert json.loads(detail.stdout)["responseStatusCode"] == 200

    missing = hookpost(server, "apps", "get", "app_missing", check=False)
    assert missing.returncode == 1
    assert "404" in missing.stderr


def test_connection_precedence(tmp_path: Path) -> None:
    config = tmp_path / "cli.toml"
    config.write_text('server_url = "http://127.0.0.1:1111"\napi_token = "from-file"\n')
    env = {"HOOKPOST_CLI_CONFIG": str(config)}
    assert Connection.resolve(None, None, env) == Connection("http://127.0.0.1:1111", "from-file")
    env |= {"HOOKPOST_SERVER_URL": "http://127.0.0.1:2222/", "HOOKPOST_API_TOKEN": "from-env"}
    assert Connection.resolve(None, None, env) == Connection("http://127.0.0.1:2222", "from-env")
    flags = Connection.resolve("http://127.0.0.1:3333", "from-flag", env)
    assert flags == Connection("http://127.0.0.1:3333", "from-flag")
    bare = {"HOOKPOST_CLI_CONFIG": str(tmp_path / "absent.toml"), "HOOKPOST_API_TOKEN": "t"}
    assert Connection.resolve(None, None, bare).server_url == DEFAULT_SERVER
    with pytest.raises(RemoteError, match="no API token"):
        Connection.resolve(None, None, {"HOOKPOST_CLI_CONFIG": str(tmp_path / "absent.toml")})
    config.write_text("not toml [")
    with pytest.raises(RemoteError, match="cannot read"):
        Connection.resolve(None, None, {"HOOKPOST_CLI_CONFIG": str(config)})


def test_remote_commands_load_neither_runtime_nor_store() -> None:
    probe = (
        "import json, sys, hookpost.remote.commands\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('hookpost.'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    assert [m for m in loaded if m.split(".")[1] in {"runtime", "store", "service", "api"}] == []
    assert "hookpost.remote.connection" in loaded
    # `listen` (httpx, the receiver library) is imported by its command, not by every process.
    assert "hookpost.remote.listen" not in loaded
