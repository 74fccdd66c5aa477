"""The SDK surface table (scripts/sdk_surface.py): every public method of `svix.api.Svix` against
hookpost on SQLite. None may be "wrong", each 501 must be documented as out of scope, and the
table in docs/api.md must be the one this run produces.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.receiver import Receiver
from tests.support.server import TOKEN, ServerProcess

ROOT = Path(__file__).resolve().parent.parent


def load_surface() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "sdk_surface", ROOT / "scripts" / "sdk_surface.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["sdk_surface"] = module
    spec.loader.exec_module(module)
    return module


surface = load_surface()


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`hookpost serve` on SQLite: the table is made there (each operation's own tests run on
    both stores)."""
    folder = tmp_path_factory.mktemp("surface")
    process = ServerProcess(f"sqlite:///{folder / 'surface.sqlite3'}", folder / "server.log")
    yield process.start().url
    process.stop()


def test_no_sdk_method_answers_wrong_and_the_docs_show_this_table(
    server_url: str, receiver: Receiver
) -> None:
    results = surface.survey(server_url, TOKEN, receiver.url)
    assert len(results) == len(dict(surface.public_methods(surface.client(server_url, TOKEN))))
    wrong = [r for r in results if r.verdict == "wrong"]
    assert wrong == []
    for result in results:
        if result.verdict == "501":
            assert surface.out_of_scope(result.method) is not None
    table = surface.render(results, surface.sdk_version())
    assert surface.documented_table() == table, "run scripts/sdk_surface.py --write"


def test_the_survey_calls_a_wrong_answer_wrong(server_url: str) -> None:
    svix = surface.client(server_url, TOKEN)
    missing = surface.classify("application.get", lambda: svix.application.get("app-nope"))
    assert (missing.verdict, missing.note) == ("wrong", "HTTP 404 not_found")
    # A 501 from a method not documented as out of scope is wrong too.
    undocumented = surface.classify(
        "application.list", lambda: surface.generic_call(svix.connector.list)
    )
    assert undocumented.verdict == "wrong"
    documented = surface.classify(
        "connector.list", lambda: surface.generic_call(svix.connector.list)
    )
    assert documented.verdict == "501"
    assert surface.classify("health.get", svix.health.get).verdict == "works"
