"""The command line as an operator meets it: `--version`, help that shows every option's text
and default whole on an 80-column terminal, and `token list` ids that paste into `token revoke`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from hookpost import __version__
from hookpost.cli import app
from tests.conftest import sqlite_url

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
BOX = re.compile(r"[│╭╮╰╯─┃┏┓┗┛━┡┩╇┳┻╋┣┫┠┨┯┷┿└┘┌┐├┤┬┴┼]")


def hookpost(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOOKPOST_")}
    clean.pop("FORCE_COLOR", None)
    clean.pop("NO_COLOR", None)
    done = subprocess.run(
        [sys.executable, "-m", "hookpost", *args],
        env=clean | {"COLUMNS": "80", "HOOKPOST_API_TOKEN": ""} | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def flat(text: str) -> str:
    """Help output with colours and box drawing removed and whitespace collapsed."""
    return " ".join(BOX.sub(" ", ANSI.sub("", text)).split())


def commands(group: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    # Typer's groups are its own classes, not click's: told apart by having subcommands.
    for name, command in group.commands.items():
        path = (*prefix, name)
        if hasattr(command, "commands"):
            yield from commands(command, path)
        else:
            yield path


def test_version_prints_the_package_version() -> None:
    done = hookpost("--version")
    assert done.stdout.strip() == f"hookpost {__version__}"


def test_help_shows_the_server_defaults() -> None:
    shown = flat(hookpost("serve", "--help").stdout)
    assert "[default: 127.0.0.1]" in shown
    assert "[default: 8071]" in shown
    assert "[default: sqlite:///hookpost.sqlite3]" in shown


ALL_COMMANDS = sorted(commands(typer.main.get_command(app)))


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=" ".join)
def test_every_option_help_is_shown_whole_at_80_columns(path: tuple[str, ...]) -> None:
    """Rich reads [...] in a help text as markup and drops it, and crops words too long for
    the column: both lose what the operator needed, so every help text must appear whole."""
    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    # In process (the same Typer app the script runs): 27 interpreters would take minutes.
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    shown = flat(result.output)
    assert "…" not in shown, shown
    for param in command.params:
        text = getattr(param, "help", None)
        if text:
            expected = flat(text.replace("\\[", "["))
            assert expected in shown, f"{param.name}: {expected!r} not in {shown!r}"


def test_token_list_ids_are_whole_and_revoke_takes_them(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    for name in ("deploy", "a key with a long descriptive name for the nightly export job"):
        created = hookpost("token", "create", "--name", name, "--database-url", url)
        assert created.stdout.startswith("hp_sk_")

    # Piped: tab-separated, one line per key.
    listed = hookpost("token", "list", "--database-url", url).stdout.splitlines()
    assert listed[0].split("\t")[0] == "id"
    ids = [line.split("\t")[0] for line in listed[1:]]
    assert len(ids) == 2
    assert all(re.fullmatch(r"key_\w{20,}", key_id) for key_id in ids), ids

    # On a narrow terminal: the table gives way, the ids do not.
    narrow = hookpost("token", "list", "--database-url", url, FORCE_COLOR="1", COLUMNS="50")
    table = ANSI.sub("", narrow.stdout)
    for key_id in ids:
        assert key_id in table, table

    hookpost("token", "revoke", ids[0], "--database-url", url)
    after = hookpost("token", "list", "--database-url", url).stdout.splitlines()[1:]
    revoked = {line.split("\t")[0]: line.split("\t")[4] for line in after}
    assert revoked[ids[0]]  # a revocation time
    assert not revoked[ids[1]]
