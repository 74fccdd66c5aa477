"""The API's documentation pages, `/docs` (Swagger UI) and `/redoc`, from assets that ship in
the package (`api/static/`, vendored from npm), so they work with no network at all.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse

STATIC = Path(__file__).parent / "static"
ASSETS = "/docs/assets"
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
# The pages may load nothing from elsewhere: what the vendored code would fetch from the
# internet (Redoc's logo, Swagger's validator badge) is refused by the browser, not tried.
POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def install_docs(api: FastAPI, *, title: str) -> None:
    """Serve `/docs`, `/redoc` and their assets; `api` must be built with docs_url=None and
    redoc_url=None so FastAPI's CDN-loading pages are not installed beside these."""
    assets = {p.name: p for p in STATIC.iterdir() if p.suffix in MEDIA_TYPES}
    openapi_url = api.openapi_url or "/openapi.json"

    @api.get("/docs", include_in_schema=False)
    async def swagger_ui() -> Response:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
            oauth2_redirect_url=None,
            swagger_ui_parameters={"validatorUrl": None},
        )
        page.headers["content-security-policy"] = POLICY
        return page

    @api.get("/redoc", include_in_schema=False)
    async def redoc() -> Response:
        page = get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - API",
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon-32x32.png",
            with_google_fonts=False,
        )
        page.headers["content-security-policy"] = POLICY
        return page

    @api.get(ASSETS + "/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        path = assets.get(name)
        if path is None:
            raise HTTPException(404)
        return FileResponse(
            path,
            media_type=MEDIA_TYPES[path.suffix],
            headers={"cache-control": "public, max-age=86400"},
        )
