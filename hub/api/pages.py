"""The pages: the security room's board (`/`, `/alerts/{id}`), the elderly-care console
(`/care`), their scripts and styles (`/static/...`), and ECharts from the npm package
(`/vendor/echarts.min.js`; `npm install` at the repository root puts it there).

The pages are static shells: they log in and fetch everything from the API."""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response

router = APIRouter(tags=["pages"])

_WEB = resources.files("hub.web")
_STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_ECHARTS = Path("echarts") / "dist" / "echarts.min.js"
# The pages change with the hub; ask browsers to check (cheap: they are small) each load.
_NO_STALE = {"Cache-Control": "no-cache"}
_INCLUDE = re.compile(r"^<!-- include ([a-z]+\.html) -->\n", re.MULTILINE)


def node_modules() -> Path:
    """SHOUWANG_NODE_MODULES, else node_modules at the root of the checkout."""
    configured = os.environ.get("SHOUWANG_NODE_MODULES")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "node_modules"


def _page(name: str) -> HTMLResponse:
    """A page, with its `<!-- include x.html -->` lines replaced by the shared fragments."""
    text = _INCLUDE.sub(lambda m: _WEB.joinpath(m[1]).read_text(encoding="utf-8"),
                        _WEB.joinpath(name).read_text(encoding="utf-8"))
    return HTMLResponse(text, headers=_NO_STALE)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def security_room() -> HTMLResponse:
    """安防值班室 duty board: live alerts, the community matrix, device health, cameras."""
    return _page("security.html")


@router.get("/alerts/{alert_id}", response_class=HTMLResponse, include_in_schema=False)
def alert_page(alert_id: str) -> HTMLResponse:
    """The board with one alert open: the link in SMS and robot messages."""
    return _page("security.html")


@router.get("/care", response_class=HTMLResponse, include_in_schema=False)
def care_console() -> HTMLResponse:
    """虚拟养老院 console: residents, their alerts, check-ins."""
    return _page("care.html")


@router.get("/static/{name}", include_in_schema=False)
def static(name: str) -> Response:
    suffix = Path(name).suffix
    entry = _WEB.joinpath(name)
    if suffix not in _STATIC_TYPES or "/" in name or not entry.is_file():
        raise HTTPException(404, f"no static file {name!r}")
    return Response(entry.read_bytes(), media_type=_STATIC_TYPES[suffix], headers=_NO_STALE)


@router.get("/vendor/echarts.min.js", include_in_schema=False)
def echarts() -> FileResponse:
    path = node_modules() / _ECHARTS
    if not path.is_file():
        raise HTTPException(404, f"ECharts is not installed ({path} is missing): run "
                                 "`npm ci` at the repository root (bash scripts/demo does)")
    return FileResponse(path, media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=86400"})
