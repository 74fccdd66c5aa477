"""HEAD, OPTIONS, 405 and the routes hookpost leaves out (issue 9, item 6).

HEAD answers as GET without a body; OPTIONS answers 204 with `Allow`; a 405 names every
method the path takes in `Allow`; Svix Ingest answers a JSON 501, as the docs promise.
"""

from __future__ import annotations

import pytest
from svix.api import ApplicationIn

from tests.support.live import Live, error_of, live_server

live = live_server()


def allow(header: str) -> list[str]:
    return sorted(m.strip() for m in header.split(","))


def test_head_answers_as_get_without_a_body(live: Live) -> None:
    http = live.http()
    app = live.sdk().application.create(ApplicationIn(name="Head")).id
    for path in ("/api/v1/app", f"/api/v1/app/{app}", f"/api/v1/app/{app}/endpoint"):
        got, head = http.get(path), http.head(path)
        assert head.status_code == got.status_code == 200
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
    missing = http.head("/api/v1/app/app_doesnotexist")
    assert (missing.status_code, missing.content) == (404, b"")
    assert live.http(None).head("/api/v1/app").status_code == 401


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/api/v1/app", ["GET", "HEAD", "OPTIONS", "POST"]),
        ("/api/v1/app/some-app", ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "PUT"]),
        ("/api/v1/app/some-app/msg", ["GET", "HEAD", "OPTIONS", "POST"]),
        ("/api/v1/health", ["GET", "HEAD", "OPTIONS"]),
    ],
)
def test_options_and_405_name_every_method_of_the_path(
    live: Live, path: str, methods: list[str]
) -> None:
    http = live.http()
    options = http.options(path)
    assert options.status_code == 204
    assert allow(options.headers["allow"]) == methods
    wrong = next(m for m in ("POST", "PUT", "DELETE", "PATCH") if m not in methods)
    refused = http.request(wrong, path)
    assert refused.status_code == 405
    assert error_of(refused)["code"] == "method_not_allowed"
    assert allow(refused.headers["allow"]) == methods


def test_options_on_an_unknown_path_is_not_found(live: Live) -> None:
    response = live.http().options("/api/v1/nothing-here")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/ingest/api/v1/source"),
        ("POST", "/ingest/api/v1/source"),
        ("PUT", "/ingest/api/v1/source/src_1"),
        ("POST", "/ingest/api/v1/source/src_1/endpoint/ep_1/secret/rotate"),
        ("PATCH", "/ingest/api/v1/source/src_1/endpoint/ep_1/transformation"),
    ],
)
def test_ingest_routes_answer_a_json_501(live: Live, method: str, path: str) -> None:
    response = live.http().request(method, path)
    assert response.status_code == 501
    assert error_of(response)["code"] == "not_implemented"


def test_the_openapi_document_declares_errors_and_created(live: Live) -> None:
    document = live.http(None).get("/openapi.json").json()
    error = {"$ref": "#/components/schemas/HttpErrorOut"}
    assert document["components"]["schemas"]["HttpErrorOut"]["required"] == ["code", "detail"]
    for path, operations in document["paths"].items():
        if path.startswith("/api/v1/health"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            for status in ("401", "404", "409", "413", "429", "503"):
                schema = responses[status]["content"]["application/json"]["schema"]
                assert schema == error, (method, path, status)
            assert "422" in responses, (method, path)
    for path in (
        "/api/v1/app/{app_id}",
        "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
        "/api/v1/event-type/{event_type_name}",
    ):
        assert {"200", "201"} <= document["paths"][path]["put"]["responses"].keys()
    assert "200" in document["paths"]["/api/v1/app"]["post"]["responses"]
