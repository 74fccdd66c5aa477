"""Running the `hookpost` command line as a user would: a subprocess with the server's address
and token in its environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.server import TOKEN, ServerProcess

ROOT = Path(__file__).resolve().parents[2]


def cli_env(server: ServerProcess, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKPOST_")}
    return (
        env
        | {
            "HOOKPOST_SERVER_URL": server.url,
            "HOOKPOST_API_TOKEN": TOKEN,
            "COLUMNS": "200",  # rich tables are not squeezed to 80 columns
            "HOOKPOST_CLI_CONFIG": str(ROOT / "no-such-config.toml"),
        }
        | extra
    )


def hookpost(
    server: ServerProcess, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "hookpost", *args],
        env=cli_env(server),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check:
        assert done.returncode == 0, f"hookpost {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done
