"""schemathesis over the OpenAPI document, against a running `hookpost serve` on SQLite.

Every operation gets a fixed number of schema-conforming and schema-breaking requests from a
deterministic seed: no answer may be a 5xx, nor carry a status, content type or body the
document does not declare for that operation (issue 9, "must show"). About a minute on two
cores, so it runs in the everyday suite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.server import TOKEN, ServerProcess

EXAMPLES = {schemathesis.GenerationMode.POSITIVE: 10, schemathesis.GenerationMode.NEGATIVE: 6}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
AUTH = {"authorization": f"Bearer {TOKEN}"}
# Never ends: a live stream of the application's messages (tests/test_stream.py covers it).
EXCLUDED = r"/stream$"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("schema")
    process = ServerProcess(f"sqlite:///{folder / 'hookpost.sqlite3'}", folder / "server.log")
    yield process.start()
    process.stop()


def known_objects(url: str) -> dict[str, str]:
    """Real objects for about half the generated path parameters to name, so that requests
    reach past the lookups; the other half exercise the 404s."""
    with httpx.Client(base_url=url, headers=AUTH) as http:
        event_type = "fuzz.known"
        http.post("/api/v1/event-type", json={"name": event_type, "description": "d"})
        app = http.post("/api/v1/app", json={"name": "fuzz", "uid": "fuzz-app"}).json()["id"]
        endpoint = http.post(
            f"/api/v1/app/{app}/endpoint", json={"url": "http://127.0.0.1:9/fuzz", "uid": "ep"}
        ).json()["id"]
        message = http.post(
            f"/api/v1/app/{app}/msg", json={"eventType": event_type, "payload": {"n": 1}}
        ).json()["id"]
    return {
        "app_id": app,
        "endpoint_id": endpoint,
        "msg_id": message,
        "event_type_name": event_type,
    }


def naming_known_objects(known: dict[str, str]) -> Callable[[Any], None]:
    def substitute(case: Any) -> None:
        if case.method.upper() == "DELETE" or not case.path_parameters:
            return  # keep the known objects alive for the operations after this one
        for name, value in list(case.path_parameters.items()):
            if name in known and len(str(value)) % 2 == 0:
                case.path_parameters[name] = known[name]

    return substitute


def test_every_answer_is_declared_by_the_openapi_document(server: ServerProcess) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json").exclude(
        path_regex=EXCLUDED
    )
    substitute = naming_known_objects(known_objects(server.url))
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode, examples in EXAMPLES.items():

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                derandomize=True,  # the same requests on every run
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],  # no shrinking: report, don't minimise
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                substitute(case)
                case.call_and_validate(headers=AUTH, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                # Only string path parameters: nothing breaks the schema there, so no
                # negative case exists (the positive ones ran).
                assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:  # report all operations' failures
                failures.append(f"{operation.label} ({mode}): {exc}")
    assert operations >= 40, "the document lost its operations"
    assert not failures, "\n\n".join(failures)
