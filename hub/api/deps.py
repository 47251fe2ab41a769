"""Typed dependencies: handlers get the running Hub through `HubDep`; tests override it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from hub.service import Hub


def get_hub(request: Request) -> Hub:
    hub: Hub | None = request.app.state.hub
    if hub is None:
        raise HTTPException(503, "the hub is still starting")
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]
