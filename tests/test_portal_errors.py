"""Errors in the visitor's language, over plain HTTP against a real server on both stores: an
attempt refused by a closed port explained from its error code, and the endpoint form's URL,
SSRF and secret problems said from their message ids rather than the API's English.
"""

from __future__ import annotations

import base64
import html
import re
import socket
from collections.abc import Iterator

import pytest
from svix.api import MessageIn

from hookpost.core.outcomes import FailureCode
from tests.support.live import Live, live_server, unique
from tests.support.portal import Visitor, add_endpoint, new_app, visit
from tests.support.waiting import eventually

live = live_server()

EXPLAINED = {
    "es": "El servidor del endpoint rechazó la conexión: nada escucha en esa dirección y puerto.",
    "pt_BR": "O servidor do endpoint recusou a conexão: nada escuta nesse endereço e porta.",
    "en": FailureCode.CONNECTION_REFUSED.explanation,
}


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port of 127.0.0.1 that refuses connections: bound (so nobody else takes it), never
    listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


def text_of(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page, re.S)
    assert found, f"no #{element_id} on the page"
    return html.unescape(found.group(1)).strip()


def problems_of(page: str) -> list[str]:
    """The problems the endpoint form lists, as the visitor reads them."""
    found = re.search(r'id="problems".*?<ul>(.*?)</ul>', page, re.S)
    assert found, "no problems on the page"
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", found.group(1))]


def in_language(visitor: Visitor, language: str) -> Visitor:
    visitor.http.headers["accept-language"] = language.replace("_", "-")
    return visitor


@pytest.mark.parametrize("language", ["es", "pt_BR", "en"])
def test_a_refused_attempt_is_explained_from_its_error_code(
    live: Live, closed_port: int, language: str
) -> None:
    uid = new_app(live)
    add_endpoint(live, uid, f"http://127.0.0.1:{closed_port}/hook")
    sent = live.sdk().message.create(uid, MessageIn(event_type=unique("order"), payload={}))
    api = live.http()

    def first_attempt() -> dict[str, object] | None:
        found = api.get(f"/api/v1/app/{uid}/attempt/msg/{sent.id}").json()["data"]
        return found[-1] if found else None

    attempt = eventually(first_attempt, what="the first attempt")
    assert attempt["errorCode"] == "connection_refused"
    visitor = in_language(visit(live, uid), language)
    page = visitor.get(f"/messages/{sent.id}/attempts/{attempt['id']}")
    assert page.status_code == 200
    assert text_of(page.text, "attempt-explanation") == EXPLAINED[language]
    assert text_of(page.text, "attempt-error-code") == "connection_refused"


@pytest.mark.parametrize(
    ("language", "url", "said"),
    [
        (
            "es",
            "gopher://example.com/",
            "Solo las URL http y https pueden recibir webhooks, no gopher:.",
        ),
        (
            "pt_BR",
            "gopher://example.com/",
            "Só URLs http e https podem receber webhooks, não gopher:.",
        ),
        (
            "es",
            "https://example.com:99999/",
            "El puerto debe ser un número de 1 a 65535, no '99999'.",
        ),
        (
            "pt_BR",
            "http://user:pw@example.com/",
            "Usuários e senhas na URL não são permitidos; use cabeçalhos.",
        ),
        (
            "es",
            "http://10.0.0.7/hook",
            "Destino no permitido: la URL lleva a una dirección interna o reservada (private).",
        ),
        (
            "pt_BR",
            "http://169.254.169.254/",
            "Destino não permitido: a URL leva a um endereço interno ou reservado "
            "(cloud_metadata).",
        ),
        (
            "es",
            "http://metadata.google.internal/",
            "Destino no permitido: metadata.google.internal es el nombre de un servicio de "
            "metadatos de la nube.",
        ),
    ],
)
def test_the_endpoint_form_says_url_problems_in_the_visitors_language(
    live: Live, language: str, url: str, said: str
) -> None:
    uid = new_app(live)
    visitor = in_language(visit(live, uid), language)
    refused = visitor.post("/endpoints", {"url": url})
    assert refused.status_code == 422
    assert problems_of(refused.text) == [said]
    assert "destination not allowed" not in refused.text  # not the API's English detail
    assert "only http and https" not in refused.text
    assert live.sdk().endpoint.list(uid).data == []


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("es", "El secreto debe decodificarse en 24 a 75 bytes, no en 10."),
        ("pt_BR", "O segredo deve decodificar para 24 a 75 bytes, não 10."),
    ],
)
def test_the_endpoint_form_says_a_bad_secret_in_the_visitors_language(
    live: Live, language: str, said: str
) -> None:
    uid = new_app(live)
    visitor = in_language(visit(live, uid), language)
    short = "whsec_" + base64.b64encode(b"k" * 10).decode()
    refused = visitor.post("/endpoints", {"url": "https://example.com/hook", "secret": short})
    assert refused.status_code == 422
    assert problems_of(refused.text) == [said]
    assert short not in refused.text  # a secret is never shown back
    assert live.sdk().endpoint.list(uid).data == []


def test_a_good_secret_from_the_form_is_the_endpoints_secret(live: Live) -> None:
    uid = new_app(live)
    visitor = visit(live, uid)
    secret = "whsec_" + base64.b64encode(b"s" * 32).decode()
    created = visitor.post("/endpoints", {"url": "https://example.com/hook", "secret": secret})
    assert created.status_code == 303, created.text
    [endpoint] = live.sdk().endpoint.list(uid).data
    assert live.sdk().endpoint.get_secret(uid, endpoint.id).key == secret


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("es", "El contenido del mensaje se eliminó o caducó; no se puede volver a enviar"),
        (
            "pt_BR",
            "O conteúdo da mensagem foi apagado ou expirou; ela não pode ser enviada de novo",
        ),
    ],
)
def test_an_action_the_service_refuses_is_said_from_its_message_id(
    live: Live, closed_port: int, language: str, said: str
) -> None:
    uid = new_app(live)
    endpoint = add_endpoint(live, uid, f"http://127.0.0.1:{closed_port}/hook")
    sent = live.sdk().message.create(uid, MessageIn(event_type=unique("order"), payload={}))
    live.sdk().message.expunge_content(uid, sent.id)
    visitor = in_language(visit(live, uid), language)
    refused = visitor.post(f"/messages/{sent.id}/resend", {"endpoint": endpoint})
    assert refused.status_code == 400
    assert text_of(refused.text, "problem") == said
