"""The page shells as served: shared fragments put in, nothing left to include."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from hub.api.pages import router


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://hub") as client:
        yield client


@pytest.mark.parametrize("path", ["/", "/care", "/alerts/abc123"])
async def test_each_page_carries_the_shared_login_and_toast_once(
        client: httpx.AsyncClient, path: str) -> None:
    page = await client.get(path)
    assert page.status_code == 200
    assert page.text.count('id="login-form"') == 1
    assert page.text.count('id="toast"') == 1
    assert "<!-- include" not in page.text


async def test_a_fragment_is_not_served_on_its_own(client: httpx.AsyncClient) -> None:
    assert (await client.get("/static/login.html")).status_code == 404
