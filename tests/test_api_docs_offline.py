"""`/docs` (Swagger UI) and `/redoc` in a real chromium with every request that is not for
127.0.0.1 refused: the pages, their scripts and styles come from the hookpost package, which
ships them (checked in a built wheel).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import sqlite_url
from tests.support.browser import chromium  # noqa: F401 - the module's browser fixture
from tests.support.server import ServerProcess

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "redoc.standalone.js")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("docs")
    running = ServerProcess(sqlite_url(folder), folder / "serve.log").start()
    yield running
    running.stop()


class Offline:
    """A browser page that may reach 127.0.0.1 only; what it tried elsewhere is recorded."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1200, "height": 900})
        self.context.set_default_timeout(30_000)
        self.refused: list[str] = []
        self.failed: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.failure} {r.url}"))
        self.page.on(
            "response", lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.url}")
        )

    def _route(self, route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.refused.append(url)
            route.abort("internetdisconnected")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def offline(chromium: Any) -> Iterator[Offline]:  # noqa: F811
    browser = Offline(chromium)
    yield browser
    browser.close()


@pytest.mark.browser
def test_swagger_ui_renders_the_api_with_no_network(
    server: ServerProcess, offline: Offline
) -> None:
    page = offline.page
    page.goto(f"{server.url}/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "hookpost" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".swagger-ui .opblock")
    assert page.locator(".swagger-ui .opblock").count() > 20  # the routes, one block each
    # An operation opens and shows its parameters: the bundle's code runs, not just loads.
    page.locator(".swagger-ui .opblock-summary").first.click()
    page.wait_for_selector(".swagger-ui .opblock-body")
    assert offline.refused == []
    assert offline.failed == []


@pytest.mark.browser
def test_redoc_renders_the_api_with_no_network(server: ServerProcess, offline: Offline) -> None:
    page = offline.page
    page.goto(f"{server.url}/redoc")
    page.wait_for_selector(".api-info h1")
    assert "hookpost" in page.inner_text(".api-info h1")
    page.wait_for_selector("[data-section-id^='operation/']", state="attached")
    assert page.locator("[data-section-id^='operation/']").count() > 20
    assert page.locator("[role=menuitem]").count() > 10  # the side menu
    # Redoc's bundle shows Redocly's logo from their CDN: the page's policy stops it in the
    # browser (the request never reached the network, nor the route above), the rest works.
    assert offline.refused == []
    assert offline.failed == ["csp https://cdn.redoc.ly/redoc/logo-mini.svg"], offline.failed


def test_the_pages_point_at_packaged_assets_only(server: ServerProcess) -> None:
    for path in ("/docs", "/redoc"):
        page = httpx.get(server.url + path, timeout=10)
        assert page.status_code == 200
        assert "https://" not in page.text, page.text
        assert "http://" not in page.text, page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
    types = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    for name in ASSETS:
        answer = httpx.get(f"{server.url}/docs/assets/{name}", timeout=10)
        assert answer.status_code == 200, name
        assert answer.headers["content-type"].startswith(types[Path(name).suffix])
        assert len(answer.content) > 500
    assert httpx.get(f"{server.url}/docs/assets/..%2fdocs.py", timeout=10).status_code == 404
    assert httpx.get(f"{server.url}/docs/assets/redoc.LICENSE", timeout=10).status_code == 404


def test_the_wheel_ships_the_assets(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*build, "--no-index", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("hookpost-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (*ASSETS, "swagger-ui-dist.LICENSE", "redoc.LICENSE"):
        assert f"hookpost/api/static/{name}" in names, name
