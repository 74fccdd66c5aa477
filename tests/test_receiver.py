"""The receiver library as hookpost re-exports it: headers, clock, JSON, dedup, frameworks.

FastAPI and aiohttp run for real; Flask and Django run only where they are installed.
"""

# No `from __future__ import annotations`: FastAPI must see the routes' real annotations,
# which name dependencies local to a test.

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
import standardwebhooks
import svix

import hookpost_receiver
from hookpost.core.signing import generate_secret, signature_header
from hookpost.receiver import Deduplicator, SecretError, Webhook, WebhookVerificationError
from hookpost.receiver.frameworks import (
    aiohttp_verify,
    django_verify,
    fastapi_dependency,
    flask_verify,
)

SECRET = generate_secret(bytes(range(24)))
OLD_SECRET = generate_secret(bytes(range(50, 74)))
TS = 1_700_000_000
BODY = b'{"type": "invoice.paid",  "data": {"amount": 12}}'
PAYLOAD = json.loads(BODY)
A1_PUBLIC = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="
A1_BODY = b'{"test": 2432232314}'
A1_SIGNATURE = (
    "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="
)


# Django's 400 handler resolves the URLconf, so this module doubles as an empty one.
urlpatterns: list[Any] = []


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def headers(
    body: bytes = BODY,
    *,
    secrets: tuple[str, ...] = (SECRET,),
    msg_id: str = "msg_1",
    ts: int = TS,
    prefix: str = "webhook-",
) -> dict[str, str]:
    return {
        f"{prefix}id": msg_id,
        f"{prefix}timestamp": str(ts),
        f"{prefix}signature": signature_header(secrets, msg_id, ts, body),
    }


def webhook(secret: str | list[str] = SECRET, now: float = TS, **kwargs: Any) -> Webhook:
    return Webhook(secret, clock=Clock(now), **kwargs)


def test_verify_returns_parsed_json() -> None:
    assert webhook().verify(BODY, headers()) == PAYLOAD


def test_verify_accepts_str_body() -> None:
    assert webhook().verify(BODY.decode(), headers()) == PAYLOAD


def test_svix_headers_accepted() -> None:
    assert webhook().verify(BODY, headers(prefix="svix-")) == PAYLOAD


def test_header_names_are_case_insensitive() -> None:
    mixed = {name.title(): value for name, value in headers().items()}
    mixed["WEBHOOK-SIGNATURE"] = mixed.pop("Webhook-Signature")
    assert webhook().verify(BODY, mixed) == PAYLOAD


def test_webhook_headers_preferred_over_svix() -> None:
    good, bad = headers(), headers(secrets=(OLD_SECRET,), prefix="svix-")
    assert webhook().verify(BODY, good | bad) == PAYLOAD
    good_svix, bad_standard = headers(prefix="svix-"), headers(secrets=(OLD_SECRET,))
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        webhook().verify(BODY, good_svix | bad_standard)


def test_incomplete_webhook_set_falls_back_to_svix() -> None:
    assert webhook().verify(BODY, headers(prefix="svix-") | {"webhook-id": "msg_1"}) == PAYLOAD


@pytest.mark.parametrize("drop", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_headers(drop: str) -> None:
    incomplete = headers()
    del incomplete[drop]
    with pytest.raises(WebhookVerificationError, match=f"missing required headers: {drop}"):
        webhook().verify(BODY, incomplete)
    with pytest.raises(WebhookVerificationError, match="missing"):
        webhook().verify(BODY, headers() | {drop: ""})


@pytest.mark.parametrize(
    ("now", "message"),
    [(TS + 300.99, None), (TS + 301, "too old"), (TS - 300, None), (TS - 301, "too new")],
)
def test_clock_and_tolerance(now: float, message: str | None) -> None:
    if message is None:
        assert webhook(now=now).verify(BODY, headers()) == PAYLOAD
        return
    with pytest.raises(WebhookVerificationError, match=message):
        webhook(now=now).verify(BODY, headers())
    assert webhook(now=now, tolerance=400).verify(BODY, headers()) == PAYLOAD


def test_no_matching_signature() -> None:
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        webhook(OLD_SECRET).verify(BODY, headers())


def test_reserialised_body_fails() -> None:
    compact = json.dumps(PAYLOAD, separators=(",", ":")).encode()
    assert compact != BODY
    with pytest.raises(WebhookVerificationError):
        webhook().verify(compact, headers())


@pytest.mark.parametrize("body", [b"not json", b"\xff\xfe{", b"[" * 100_000, b""])
def test_invalid_json_after_valid_signature(body: bytes) -> None:
    with pytest.raises(WebhookVerificationError, match="not valid JSON"):
        webhook().verify(body, headers(body))


def test_rotation_receiver_holding_both_secrets() -> None:
    for sent_with in ((SECRET,), (OLD_SECRET,), (SECRET, OLD_SECRET)):
        verifier = webhook([SECRET, OLD_SECRET])
        assert verifier.verify(BODY, headers(secrets=sent_with)) == PAYLOAD


def test_public_key_receiver() -> None:
    a1 = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330"}
    verifier = webhook(A1_PUBLIC, now=1614265330)
    assert verifier.verify(A1_BODY, a1 | {"webhook-signature": A1_SIGNATURE}) == {
        "test": 2432232314
    }


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_!!", []])
def test_bad_secrets_rejected_at_construction(secret: str | list[str]) -> None:
    with pytest.raises(SecretError):
        Webhook(secret)
    assert issubclass(SecretError, ValueError)


def test_hookpost_receiver_is_a_re_export_of_the_distribution() -> None:
    assert Webhook is hookpost_receiver.Webhook
    assert WebhookVerificationError is hookpost_receiver.WebhookVerificationError
    assert SecretError is hookpost_receiver.SecretError


def test_accepts_signatures_from_standardwebhooks() -> None:
    when = datetime.fromtimestamp(TS, tz=UTC)
    entry = standardwebhooks.Webhook(SECRET).sign("msg_std", when, BODY.decode())
    sent = {"webhook-id": "msg_std", "webhook-timestamp": str(TS), "webhook-signature": entry}
    assert webhook().verify(BODY, sent) == PAYLOAD


def test_own_sign_verifies_with_svix() -> None:
    now = int(time.time())  # svix checks against the real clock
    sent = {
        "svix-id": "msg_own",
        "svix-timestamp": str(now),
        "svix-signature": Webhook([SECRET, OLD_SECRET]).sign("msg_own", now, BODY),
    }
    svix.Webhook(OLD_SECRET).verify(BODY, sent)  # raises on failure; returns None


def test_receiver_imports_no_framework() -> None:
    src = Path(__file__).resolve().parents[1] / "src"
    probe = (
        "import json, sys, hookpost.receiver, hookpost.receiver.frameworks\n"
        "heavy = ('fastapi', 'starlette', 'aiohttp', 'flask', 'django', 'cryptography')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'hookpost')))\n"
    )
    env = os.environ | {"PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert json.loads(out[0]) == []
    assert set(json.loads(out[1])) <= {
        "hookpost",
        "hookpost.receiver",
        "hookpost.receiver.frameworks",
    }


def test_deduplicator_reports_repeats_until_expiry() -> None:
    clock = Clock(0)
    dedup = Deduplicator(ttl_seconds=600, clock=clock)
    assert dedup.seen("msg_1") is False
    assert dedup.seen("msg_1") is True
    clock.now = 599.9
    assert dedup.seen("msg_1") is True
    assert dedup.seen("msg_2") is False
    clock.now = 600
    assert dedup.seen("msg_1") is False
    assert len(dedup) == 2
    clock.now = 1300
    assert len(dedup) == 0


def test_deduplicator_is_bounded_and_can_forget() -> None:
    dedup = Deduplicator(clock=Clock(0), max_size=2)
    for msg_id in ("a", "b", "c"):
        assert dedup.seen(msg_id) is False
    assert len(dedup) == 2
    assert dedup.seen("a") is False  # evicted as the oldest
    dedup.forget("c")
    assert dedup.seen("c") is False
    with pytest.raises(ValueError):
        Deduplicator(ttl_seconds=0)


async def test_fastapi_dependency() -> None:
    from fastapi import Depends, FastAPI  # noqa: PLC0415 - keep the test module importable

    app = FastAPI()
    verified = fastapi_dependency(webhook())
    live = fastapi_dependency(SECRET)  # a plain secret, checked against the real clock

    @app.post("/hook")
    async def hook(payload: Annotated[Any, Depends(verified)]) -> dict[str, Any]:
        return {"received": payload}

    @app.post("/live")
    async def live_hook(payload: Annotated[Any, Depends(live)]) -> dict[str, Any]:
        return {"received": payload}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        ok = await client.post("/hook", content=BODY, headers=headers())
        assert ok.status_code == 200
        assert ok.json() == {"received": PAYLOAD}
        now = int(time.time())
        ok_live = await client.post("/live", content=BODY, headers=headers(ts=now))
        assert ok_live.json() == {"received": PAYLOAD}
        bad = await client.post("/hook", content=BODY + b" ", headers=headers())
        assert bad.status_code == 400
        assert bad.json() == {"detail": "no matching signature found"}
        missing = await client.post("/hook", content=BODY)
        assert missing.status_code == 400
        assert "missing required headers" in missing.json()["detail"]


async def test_aiohttp_verify() -> None:
    from aiohttp import web  # noqa: PLC0415
    from aiohttp.test_utils import TestClient, TestServer  # noqa: PLC0415

    verifier = webhook()

    async def hook(request: web.Request) -> web.Response:
        return web.json_response({"received": await aiohttp_verify(request, verifier)})

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        ok = await client.post("/hook", data=BODY, headers=headers())
        assert ok.status == 200
        assert await ok.json() == {"received": PAYLOAD}
        bad = await client.post("/hook", data=BODY, headers=headers(secrets=(OLD_SECRET,)))
        assert bad.status == 400
        assert "no matching signature" in await bad.text()


def test_flask_verify() -> None:
    flask = pytest.importorskip("flask", reason="Flask is not installed in this venv")
    app = flask.Flask(__name__)

    @app.post("/hook/<name>")
    @flask_verify(webhook())
    def hook(payload: Any, name: str) -> dict[str, Any]:
        return {"received": payload, "name": name}

    client = app.test_client()
    ok = client.post("/hook/x", data=BODY, headers=headers())
    assert ok.status_code == 200
    assert ok.get_json() == {"received": PAYLOAD, "name": "x"}
    bad = client.post("/hook/x", data=BODY, headers=headers(secrets=(OLD_SECRET,)))
    assert bad.status_code == 400
    assert b"no matching signature" in bad.data


def test_django_verify() -> None:
    pytest.importorskip("django", reason="Django is not installed in this venv")
    from django.conf import settings  # noqa: PLC0415
    from django.core.exceptions import BadRequest  # noqa: PLC0415

    if not settings.configured:
        settings.configure(ALLOWED_HOSTS=["testserver"], ROOT_URLCONF=__name__)
    from django.core.handlers.exception import response_for_exception  # noqa: PLC0415
    from django.test import RequestFactory  # noqa: PLC0415

    def request_with(sent: dict[str, str]) -> Any:
        meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in sent.items()}
        return RequestFactory().post("/hook", data=BODY, content_type="application/json", **meta)

    assert django_verify(request_with(headers()), webhook()) == PAYLOAD
    bad_request = request_with(headers(msg_id="msg_other") | {"webhook-id": "msg_1"})
    with pytest.raises(BadRequest, match="no matching signature") as caught:
        django_verify(bad_request, webhook())
    assert response_for_exception(bad_request, caught.value).status_code == 400


async def test_starlette_verify() -> None:
    from starlette.applications import Starlette  # noqa: PLC0415
    from starlette.requests import Request  # noqa: PLC0415
    from starlette.responses import JSONResponse  # noqa: PLC0415
    from starlette.routing import Route  # noqa: PLC0415

    from hookpost.receiver.frameworks import starlette_verify  # noqa: PLC0415

    async def hook(request: Request) -> JSONResponse:
        return JSONResponse({"received": await starlette_verify(request, webhook())})

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        ok = await client.post("/hook", content=BODY, headers=headers(prefix="svix-"))
        assert ok.json() == {"received": PAYLOAD}
        bad = await client.post("/hook", content=BODY, headers=headers(secrets=(OLD_SECRET,)))
        assert bad.status_code == 400
