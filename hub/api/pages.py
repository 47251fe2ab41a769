from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["pages"])


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def board() -> HTMLResponse:
    """The duty board: active alerts and device health, refreshed every two seconds."""
    page = resources.files("hub.web").joinpath("board.html").read_text(encoding="utf-8")
    return HTMLResponse(page)
