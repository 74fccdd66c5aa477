"""The server starts on both backends and the svix SDK can reach it."""

from svix.api import ApplicationIn, Svix, SvixOptions

from tests.support.server import TOKEN, ServerProcess


def test_sdk_creates_an_application(server: ServerProcess) -> None:
    client = Svix(TOKEN, SvixOptions(server_url=server.url, retry_schedule=[]))
    client.health.get()
    app = client.application.create(ApplicationIn(name="Acme", uid="acme"))
    assert app.id.startswith("app_")
    assert len(app.id) == 31
    assert client.application.get("acme").id == app.id
