"""What a server process loads: the clients and formats only some commands or settings need
(httpx and the receiver library for `listen` and the remote commands, PyYAML for catalog
files, aiohttp for HOOKPOST_HTTP_CLIENT=aiohttp) stay out of `serve`, `api` and `worker`,
whose memory the benchmark reports (peak RSS) and operators pay per process.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

OPTIONAL = ("aiohttp", "httpx", "yaml", "hookpost_receiver")


def loaded_after(code: str) -> dict[str, bool]:
    probe = (
        "import json, sys\n"
        f"{code}\n"
        f"print(json.dumps({{name: name in sys.modules for name in {OPTIONAL!r}}}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    found: dict[str, bool] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_a_server_process_loads_no_optional_client() -> None:
    # What `hookpost serve` imports and builds before it listens: the command line, the
    # composition root, the API application and the default sender.
    code = (
        "import hookpost.cli, hookpost.runtime, hookpost.api.app\n"
        "from hookpost.core.addresses import AddressPolicy\n"
        "from hookpost.delivery.sender import Sender, SenderLimits\n"
        "Sender(AddressPolicy(()), SenderLimits(5, 2, 65536, 4096, 10, False), lookup=None)"
    )
    assert loaded_after(code) == dict.fromkeys(OPTIONAL, False)


@pytest.mark.parametrize(
    ("code", "needed"),
    [
        ("from hookpost.remote.listen import Listener", ("httpx", "hookpost_receiver")),
        ("from hookpost.remote.catalog_files import render; render({}, 'yaml')", ("yaml",)),
    ],
)
def test_the_commands_that_need_them_still_load_them(code: str, needed: tuple[str, ...]) -> None:
    found = loaded_after(code)
    assert all(found[name] for name in needed), found


def test_the_aiohttp_transport_loads_aiohttp_when_chosen() -> None:
    code = (
        "from hookpost.core.addresses import AddressPolicy\n"
        "from hookpost.delivery.sender import Sender, SenderLimits\n"
        "Sender(AddressPolicy(()), SenderLimits(5, 2, 65536, 4096, 10, False, 'aiohttp'),"
        " lookup=None)"
    )
    assert loaded_after(code)["aiohttp"]
