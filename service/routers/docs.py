"""``/docs`` that works offline (Swagger UI assets served from the ``swagger-ui-bundle`` package,
not a CDN) and ``/``, which points to the docs and the UI."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from service.deps import SettingsDep

ASSETS = "/docs-assets"

router = APIRouter(include_in_schema=False)


def docs_assets() -> StaticFiles:
    """The Swagger UI files of the installed package, to mount at :data:`ASSETS`."""
    return StaticFiles(directory=swagger_ui_path)


@router.get("/docs")
def docs(request: Request) -> HTMLResponse:
    """Swagger UI for this API, with every asset served by the app itself."""
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - docs",
        swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS}/favicon-32x32.png",
    )


@router.get("/")
def home(request: Request, settings: SettingsDep) -> HTMLResponse:
    """Where to go from here: the API docs and the web UI."""
    root = request.scope.get("root_path", "")
    ui = settings.ui_url
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'><title>LoDisc retrieval</title></head>"
        "<body><h1>LoDisc fine-grained image retrieval</h1><ul>"
        f"<li><a href='{root}/docs'>API docs</a> (try <code>POST /search</code>)</li>"
        f"<li><a href='{ui}'>Web UI</a></li>"
        f"<li><a href='{root}/readyz'>What is being served</a></li>"
        "</ul></body></html>"
    )
