"""The portal in a real headless chromium: a customer opens a magic link, registers an endpoint
for two events, tests it, reads a failed then successful delivery in words, resends, rotates
the secret, switches language, and cannot open another customer's endpoint.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from svix.api import AppPortalAccessIn, EventTypeIn, MessageIn

from tests.conftest import sqlite_url
from tests.support.browser import chromium  # noqa: F401 - the module's browser fixture
from tests.support.live import Live, unique
from tests.support.portal import add_endpoint, new_app
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser
# Set to a folder (docs/portal to refresh the documentation) to keep the screenshots.
SHOTS = os.environ.get("PORTAL_SCREENSHOTS_DIR")
BRAND = "Acme Payments"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("portal-browser")
    url = sqlite_url(folder)
    env = {"HOOKPOST_PORTAL_BRAND_NAME": BRAND, "HOOKPOST_PORTAL_ACCENT_COLOR": "#7a3cff"}
    server = ServerProcess(url, folder / "server.log", env=env).start()
    running = Live("sqlite", url, server)
    yield running
    running.close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def page(chromium: Any, tmp_path: Path) -> Iterator[Any]:  # noqa: F811
    context = chromium.new_context(locale="en-US", viewport={"width": 1200, "height": 900})
    context.set_default_timeout(20_000)
    opened = context.new_page()
    yield opened
    context.close()


def shot(page: Any, name: str, tmp_path: Path) -> None:
    folder = Path(SHOTS) if SHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000


def catalog(live: Live) -> tuple[str, str]:
    group = unique("payment")
    names = (f"{group}.succeeded", f"{group}.failed")
    for name, words in zip(
        names, ("A payment went through.", "A payment was refused."), strict=True
    ):
        live.sdk().event_type.create(
            EventTypeIn(
                name=name,
                description=words,
                group_name="payment",
                schemas={"1": {"examples": [{"amount": 1250, "currency": "BRL"}]}},
            )
        )
    return names


def magic_link(live: Live, app_uid: str, **access: Any) -> str:
    return str(
        live.sdk().authentication.app_portal_access(app_uid, AppPortalAccessIn(**access)).url
    )


def test_a_customer_manages_an_endpoint_end_to_end(
    live: Live, receiver: Receiver, page: Any, tmp_path: Path
) -> None:
    succeeded, failed = catalog(live)
    app_uid = new_app(live)
    page.goto(magic_link(live, app_uid))
    assert page.url.endswith("/portal/endpoints")
    assert BRAND in page.inner_text("header")
    assert "No endpoints yet" in page.inner_text("main")

    # Create an endpoint for two events, with a custom header and a rate limit.
    page.click("text=Add endpoint")
    page.wait_for_url("**/portal/endpoints/new")
    page.fill("#url", f"{receiver.url}/hook")
    page.fill("#description", "Billing <b>webhooks</b>")
    page.check(f'input[value="{succeeded}"]')
    page.check(f'input[value="{failed}"]')
    page.fill("#headers", "X-Customer: acme")
    page.fill("#rate_limit", "20")
    shot(page, "endpoint-form", tmp_path)
    page.click("#save")
    page.wait_for_url(re.compile(r"/portal/endpoints/ep_"))
    endpoint_id = page.url.rsplit("/", 1)[1]
    facts = page.inner_text("dl.facts")
    assert succeeded in facts
    assert failed in facts
    assert "X-Customer: acme" in facts
    assert "Billing <b>webhooks</b>" in facts  # shown as text, not markup
    stored = live.sdk().endpoint.get(app_uid, endpoint_id)
    assert sorted(stored.event_types or []) == sorted([succeeded, failed])
    assert stored.throttle_rate == 20

    # A test event: first the receiver fails, then it accepts; both are explained.
    receiver.answer(500)
    before = len(receiver.requests)
    page.click("#send-test")
    page.wait_for_url("**/test")
    assert page.inner_text("#test-code") == "500"
    assert "crashed" in page.inner_text("#test-explanation")
    assert "was not accepted" in page.inner_text("h1")
    shot(page, "test-event-500", tmp_path)
    page.click("#back")
    page.wait_for_url(f"**/portal/endpoints/{endpoint_id}")
    page.click("#send-test")
    page.wait_for_url("**/test")
    assert page.inner_text("#test-code") == "200"
    assert "accepted the webhook" in page.inner_text("#test-explanation")
    received = receiver.wait_for(before + 2)
    assert received[-1].headers["x-customer"] == "acme"
    assert received[-1].headers["webhook-signature"].startswith("v1,")

    # A real message: the first attempt gets a 500, the retry a 200.
    receiver.answer(500)
    message = live.sdk().message.create(
        app_uid,
        MessageIn(event_type=succeeded, payload={"amount": 1250, "note": "<script>x</script>"}),
    )
    receiver.wait_for(before + 4)

    def attempts_shown() -> int:
        page.goto(f"{live.url}/portal/messages/{message.id}")
        return page.locator("table.attempts tbody tr").count() >= 2

    eventually(attempts_shown, what="two attempts on the message page")
    assert "<script>x</script>" in page.inner_text("#payload")
    shot(page, "message", tmp_path)
    page.click("table.attempts tbody tr:has(.code:text-is('500')) a")
    page.wait_for_url("**/attempts/atmpt_*")
    assert page.inner_text("#attempt-code") == "500"
    assert "crashed" in page.inner_text("#attempt-explanation")
    assert "http_status" in page.inner_text("dl.facts")
    shot(page, "attempt-500", tmp_path)
    page.goto(f"{live.url}/portal/messages/{message.id}")
    page.click("table.attempts tbody tr:has(.code:text-is('200')) a")
    page.wait_for_url("**/attempts/atmpt_*")
    assert page.inner_text("#attempt-code") == "200"
    assert "accepted the webhook" in page.inner_text("#attempt-explanation")
    assert '"amount":1250' in page.inner_text("#request-body").replace(" ", "").replace("\n", "")

    # Resend it from the message page.
    page.goto(f"{live.url}/portal/messages/{message.id}")
    page.click("button.resend")
    page.wait_for_url("**notice=resent")
    assert "being sent again" in page.inner_text("#notice")
    resent = receiver.wait_for(before + 5)
    assert resent[-1].headers["webhook-id"] == message.id

    # The log lists it, filtered by event type and by endpoint and status.
    page.goto(f"{live.url}/portal/messages?event_type={succeeded}")
    assert message.id in page.inner_text("#messages")
    page.goto(f"{live.url}/portal/messages?endpoint={endpoint_id}&status=success")
    assert message.id in page.inner_text("#messages")
    shot(page, "messages", tmp_path)
    page.goto(f"{live.url}/portal/messages?event_type={failed}")
    assert "No messages match" in page.inner_text("main")

    # Reveal, then rotate the secret.
    page.goto(f"{live.url}/portal/endpoints/{endpoint_id}")
    shot(page, "endpoint", tmp_path)
    page.click("#secret-link")
    page.wait_for_url("**/secret")
    first_secret = page.inner_text("#secret")
    assert first_secret == live.sdk().endpoint.get_secret(app_uid, endpoint_id).key
    page.click("#rotate")
    page.wait_for_url("**notice=rotated")
    second_secret = page.inner_text("#secret")
    assert second_secret.startswith("whsec_")
    assert second_secret != first_secret
    assert second_secret == live.sdk().endpoint.get_secret(app_uid, endpoint_id).key

    page.goto(f"{live.url}/portal/endpoints")
    assert "Enabled" in page.inner_text("#endpoints")
    shot(page, "endpoints", tmp_path)
    page.goto(f"{live.url}/portal/catalog")
    assert "A payment was refused." in page.inner_text("main")
    shot(page, "catalog", tmp_path)

    # Languages: Spanish, then Brazilian Portuguese, remembered across pages.
    page.click('a[data-lang="es"]')
    page.wait_for_url("**lang=es")
    assert page.get_attribute("html", "lang") == "es"
    assert "Catálogo de eventos" in page.inner_text("h1")
    page.goto(f"{live.url}/portal/endpoints")
    assert "Agregar endpoint" in page.inner_text("main")
    assert "Activo" in page.inner_text("#endpoints")
    shot(page, "endpoints-es", tmp_path)
    page.click('a[data-lang="pt_BR"]')
    page.wait_for_url("**lang=pt_BR")
    assert page.get_attribute("html", "lang") == "pt-BR"
    assert "Adicionar endpoint" in page.inner_text("main")
    assert "Mensagens" in page.inner_text("nav")
    page.goto(f"{live.url}/portal/messages/{message.id}")
    page.click("table.attempts tbody tr:has(.code:text-is('500')) a")
    page.wait_for_url("**/attempts/atmpt_*")
    assert "falhou ao processar o webhook" in page.inner_text("#attempt-explanation")
    assert "Erro interno do servidor" in page.inner_text("dl.facts")
    shot(page, "attempt-500-pt-BR", tmp_path)
    page.click('a[data-lang="en"]')
    page.wait_for_url("**lang=en")

    # Another customer's endpoint, by URL: refused.
    other_uid = new_app(live)
    other_endpoint = add_endpoint(live, other_uid, f"{receiver.url}/other")
    response = page.goto(f"{live.url}/portal/endpoints/{other_endpoint}")
    assert response.status == 404
    assert "Not found." in page.inner_text("main")
    response = page.goto(f"{live.url}/portal/endpoints/{other_endpoint}/secret")
    assert response.status == 404


def test_a_spent_link_and_delete_with_confirmation(
    live: Live,
    receiver: Receiver,
    page: Any,
    chromium: Any,  # noqa: F811
) -> None:
    app_uid = new_app(live)
    endpoint_id = add_endpoint(live, app_uid, f"{receiver.url}/gone")
    link = magic_link(live, app_uid, capabilities=["ManageEndpoint"])
    page.goto(link)
    page.goto(f"{live.url}/portal/endpoints/{endpoint_id}")
    page.click("#toggle")
    page.wait_for_url("**notice=saved")
    assert "Disabled" in page.inner_text(".heading")
    assert live.sdk().endpoint.get(app_uid, endpoint_id).disabled
    page.click("#delete")
    page.wait_for_url("**/delete")
    assert "cannot be undone" in page.inner_text("main")
    page.click("#confirm-delete")
    page.wait_for_url(re.compile(r"/portal/endpoints$"))
    assert live.sdk().endpoint.list(app_uid).data == []

    # The link was spent by the first browser: a second one is told so, in its language.
    other = chromium.new_context(locale="es-ES")
    try:
        second = other.new_page()
        response = second.goto(link)
        assert response.status == 410
        assert "ya se usó o ha caducado" in second.inner_text("main")
    finally:
        other.close()
