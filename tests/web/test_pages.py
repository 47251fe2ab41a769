"""The pages in a real browser (Debian's headless Chromium, driven by Playwright) against a real
hub and mosquitto: what a duty officer and a care operator see and do."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from hub.care import day_start
from tests.service.conftest import PASSWORD, eventually
from tests.web.conftest import CHROMIUM_FLAGS, LiveHub, chromium_path, screenshots_dir

pytestmark = pytest.mark.browser

WALL = {"width": 1920, "height": 1080}
LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=chromium_path(),
                                                    args=CHROMIUM_FLAGS)
        yield chromium
        await chromium.close()


class Screen:
    """One open page, and the script errors it had (there must be none)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))


async def open_screen(browser: Browser, live: LiveHub, path: str = "/", *,
                      user: str | None = None, viewport: dict[str, int] = WALL) -> Screen:
    """Open a page, log in through its form (or follow a token link), wait for the feed."""
    context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    screen = Screen(await context.new_page())
    page = screen.page
    await page.goto(live.url + path)
    if user is not None:
        await page.fill("#login-user", user)
        await page.fill("#login-password", PASSWORD)
        await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#live-status[data-state=open]", timeout=10_000)
    return screen


def row(alert_id: object) -> str:
    return f'tr.alert-row[data-alert-id="{alert_id}"]'


async def test_a_reading_published_over_mqtt_is_on_the_board_within_2_s(
    live_hub: LiveHub, browser: Browser
) -> None:
    screen = await open_screen(browser, live_hub, user="duty")
    page = screen.page
    assert await page.locator("tr.alert-row").count() == 0
    sent = time.monotonic()
    live_hub.publish("b1-201-smoke", {"smoke": True, "smoke_density": 12})
    await page.wait_for_selector("tr.alert-row", timeout=2000)
    shown_after = time.monotonic() - sent
    assert shown_after < 2.0
    text = await page.inner_text("tr.alert-row")
    assert "1号楼 2层 201室" in text
    assert "已通知" not in text  # a receipt chip names the person told, not the header
    # The home lights up in the community matrix once the status refresh comes by.
    await page.wait_for_selector('.cell[data-place="b1/f2/201"].major', timeout=7000)
    assert screen.errors == []


async def test_acknowledging_on_one_page_updates_the_api_and_the_other_page(
    live_hub: LiveHub, browser: Browser
) -> None:
    duty = await open_screen(browser, live_hub, user="duty")
    wall = await open_screen(browser, live_hub, f"/?token={await live_hub.token('viewer')}")
    assert "token=" not in wall.page.url  # the token left the address bar
    live_hub.event("b1-nvr", "disk_failure")  # critical: the alarm sounds until acknowledged
    for screen in (duty, wall):
        await screen.page.wait_for_selector("tr.alert-row[data-state=active_unack]")
    alert_id = await duty.page.get_attribute("tr.alert-row", "data-alert-id")
    assert await duty.page.get_attribute("body", "data-alarm") == "on"
    assert await wall.page.locator(f"{row(alert_id)} [data-action=ack]").count() == 0

    await duty.page.click(f"{row(alert_id)} [data-action=ack]")
    await duty.page.fill("#action-note", "已派人查看录像机")
    await duty.page.click("#action-ack")

    await wall.page.wait_for_selector(f"{row(alert_id)}[data-state=active_ack]", timeout=2000)
    detail = (await live_hub.api.get(f"/api/alerts/{alert_id}")).json()
    assert detail["alert"]["state"] == "active_ack"
    assert detail["alert"]["acknowledged_by"] == "duty"
    assert detail["timeline"][-1]["note"] == "已派人查看录像机"
    await duty.page.wait_for_selector("body[data-alarm=off]", timeout=2000)
    assert await wall.page.get_attribute("body", "data-alarm") == "off"
    # The detail drawer shows the acknowledgement in the timeline.
    await duty.page.wait_for_selector("#detail .timeline li.acknowledged")

    await duty.page.click("#action-clear")
    await wall.page.wait_for_selector(row(alert_id), state="detached", timeout=2000)
    assert duty.errors == wall.errors == []


async def test_the_care_console_shows_a_residents_fall_and_records_the_outcome(
    live_hub: LiveHub, browser: Browser
) -> None:
    screen = await open_screen(browser, live_hub, "/care", user="care")
    page = screen.page
    await page.wait_for_selector('#residents tr[data-resident="res-1"]')
    live_hub.event("b1-101-fall", "fall")
    card = '.care-card[data-severity="critical"]'
    await page.wait_for_selector(card, timeout=2000)
    text = await page.inner_text(card)
    assert "王秀英" in text
    assert "跌倒" in text
    assert await page.get_attribute("body", "data-alarm") == "on"
    # Her row in the residents table carries the alert once the list refreshes.
    await page.wait_for_selector('#residents tr[data-resident="res-1"] .sev.critical',
                                 timeout=5000)

    await page.click(f"{card} input[value=visited]")
    await page.fill(f"{card} textarea", "社工已上门，老人无大碍")
    await page.click(f"{card} [data-action=ack]")
    await page.wait_for_selector('.care-card[data-state="active_ack"]', timeout=2000)
    await page.wait_for_selector("body[data-alarm=off]")

    alert = next(a for a in await live_hub.active() if a["rule"] == "fall_detected")
    timeline = (await live_hub.api.get(f"/api/alerts/{alert['id']}")).json()["timeline"]
    assert (timeline[-1]["user"], timeline[-1]["outcome"]) == ("care", "visited")
    resident = (await live_hub.api.get("/api/residents/res-1")).json()
    assert resident["resident"]["last_check_in"]["outcome"] == "visited"
    assert resident["check_ins"][0]["alert_id"] == alert["id"]
    assert screen.errors == []


async def test_screenshots_of_both_pages_in_both_languages(
    live_hub: LiveHub, browser: Browser, tmp_path: Path
) -> None:
    """What the README shows. SHOUWANG_SCREENSHOTS=docs/screenshots writes them there."""
    now = time.time()
    for minutes_ago, lel in ((24, 0.4), (20, 0.6), (16, 1.5), (12, 4.0), (9, 7.5), (6, 12.0),
                             (4, 16.0), (2, 19.0)):
        live_hub.publish("b1-201-gas", {"ts": now - 60 * minutes_ago, "gas_lel": lel})
    live_hub.publish("b1-201-gas", {"gas_lel": 26.5})
    for hours_ago in (1, 2, 3, 5, 6):  # the resident's morning, as her sensors saw it
        for minute in (5, 25, 40):
            ts = now - 3600 * hours_ago + 60 * minute
            if ts > day_start(now, "Asia/Shanghai"):
                live_hub.publish("b1-101-motion", {"ts": ts, "occupancy": True})
    live_hub.publish("b1-102-leak", {"water_leak": True})
    live_hub.publish("b1-202-smoke", {"smoke": True, "smoke_density": 9})
    live_hub.publish("b1-f1-cam", {"recording": True, "fps": 25})
    live_hub.publish("b2-f1-cam", {"recording": False, "fps": 0})
    live_hub.publish("b1-101-motion", {"occupancy": True})
    live_hub.event("b1-101-sos", "sos")
    live_hub.event("b1-nvr", "disk_failure")

    async def five() -> bool:
        return len(await live_hub.active()) >= 5

    await eventually(five, what="alerts to show")
    await eventually(lambda: any(a.rule_id == "gas_leak" for a in live_hub.hub.db.alerts()),
                     what="the gas alert")
    out = screenshots_dir(tmp_path)
    security = await open_screen(browser, live_hub, user="duty")
    await security.page.wait_for_selector("tr.alert-row >> nth=2")
    await security.page.wait_for_selector("#camera-wall .cam")
    await security.page.wait_for_timeout(300)
    await security.page.screenshot(path=str(out / "security-room.png"))
    gas = next(a for a in await live_hub.active() if a["rule"] == "gas_leak")
    await security.page.click(row(gas["id"]))
    await security.page.wait_for_selector("#detail-chart canvas", timeout=5000)
    await security.page.wait_for_timeout(500)
    await security.page.screenshot(path=str(out / "alert-detail.png"))

    care = await open_screen(browser, live_hub, "/care", user="care")
    await care.page.wait_for_selector(".care-card")
    await care.page.wait_for_selector("#residents tr >> nth=1")
    await care.page.screenshot(path=str(out / "care-console.png"))
    await care.page.click("#lang")
    assert "Virtual care home" in await care.page.inner_text("header")
    assert "Residents" in await care.page.inner_text("main")
    await care.page.screenshot(path=str(out / "care-console-en.png"))
    for name in ("security-room", "alert-detail", "care-console", "care-console-en"):
        assert (out / f"{name}.png").stat().st_size > 20_000
    assert security.errors == care.errors == []


async def test_pages_fit_a_laptop_screen_and_a_viewer_cannot_act(
    live_hub: LiveHub, browser: Browser
) -> None:
    live_hub.event("b1-101-sos", "sos")
    for path in ("/", "/care"):
        screen = await open_screen(browser, live_hub, path, user="viewer", viewport=LAPTOP)
        page = screen.page
        await page.wait_for_selector("[data-alert-id]")
        width: Any = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= LAPTOP["width"], f"{path} scrolls sideways on a laptop"
        assert await page.locator("[data-action=ack]:visible").count() == 0
        assert screen.errors == []


async def test_a_deep_link_opens_the_alert_and_asks_to_log_in(
    live_hub: LiveHub, browser: Browser
) -> None:
    """The link in SMS and robot messages: /alerts/<id>, after logging in."""
    live_hub.publish("b1-101-gas", {"gas_lel": 40})

    async def raised() -> bool:
        return bool(await live_hub.active())

    await eventually(raised, what="gas alert")
    alert_id = (await live_hub.active())[0]["id"]
    context = await browser.new_context(viewport=WALL)  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(f"{live_hub.url}/alerts/{alert_id}")
    await page.wait_for_selector("#login:not([hidden])")
    await page.fill("#login-user", "duty")
    await page.fill("#login-password", "wrong password")
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#login-error:has-text('登录失败')")
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#detail:not([hidden]) #action-ack")
    assert "燃气" in await page.inner_text("#detail-title")
