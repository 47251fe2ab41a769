"""A community hub's side of three-level command (the `federation:` section of its config).

Down, on exact topics the hub subscribes to and peels off before the device pipeline:
    shouwang/<site>/centre/ack   the centre acknowledges or clears one of our alerts
    shouwang/<site>/cap/in       a CAP warning for this community
    shouwang/cap/all             a CAP warning for every community (we judge its area)
and, when `cap.feeds` are set, Atom feeds of CAP documents polled over HTTP.
Up: alert transitions already go out on the alerts topic; this adds the one-minute roll-ups
(hub/rollup.py) and the warnings in force (hub/warnings.py).

The peel hands messages to a queue; one task handles them in arrival order, CAP checks (XSD,
signature) in a worker thread so ingest never waits for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from urllib.parse import urljoin

import httpx
from lxml import etree

from devices.topics import CAP_ALL_TOPIC, cap_in_topic, centre_ack_topic
from hub.alerts import AlertBook
from hub.cap import CAP_NS
from hub.capin import CapIngest, CapRejectedError, SiteArea
from hub.centre.actions import apply_centre_action
from hub.clock import Clock
from hub.config import FederationConfig, HubConfig
from hub.mqtt import RawMessage
from hub.rollup import RollupBook, RollupPublisher
from hub.statedb import StateDB
from hub.tasks import cancel_and_wait
from hub.warnings import Publish, WarningBoard, WarningStore, relay_targets

logger = logging.getLogger(__name__)

EXPIRY_CHECK_S = 5.0
_ATOM = "{http://www.w3.org/2005/Atom}"
CAP_MEDIA_TYPE = "application/cap+xml"


class CommunityLink:
    def __init__(self, config: HubConfig, spec: FederationConfig, *, publish: Publish,
                 alerts: AlertBook, outbox: StateDB, wake: Callable[[], None] | None,
                 clock: Clock) -> None:
        site = config.site
        self._alerts = alerts
        self._clock = clock
        self.ingest = CapIngest(SiteArea.of(site.id, site.location, spec.cap), spec.cap)
        self.store = WarningStore(config.data_dir / "federation.db")
        self.warnings = WarningBoard(
            site, self.store, publish, relay=spec.relay,
            targets=relay_targets(site, spec.relay, config.spec.delivery), outbox=outbox,
            wake=wake, default_lifetime_s=spec.cap.default_lifetime)
        self.rollup = RollupBook() if spec.rollup.enabled else None
        self._publisher = None if self.rollup is None else RollupPublisher(
            site.id, self.rollup, publish, clock.now, max_series=spec.rollup.max_series)
        self._ack_topic = centre_ack_topic(site.id)
        self.topics: dict[str, Callable[[RawMessage], None]] = dict.fromkeys(
            (self._ack_topic, cap_in_topic(site.id), CAP_ALL_TOPIC), self._inbox_put)
        """Exact topics to subscribe to and peel off before the device pipeline."""
        self._inbox: deque[RawMessage] = deque()
        self._wake = asyncio.Event()
        self._checking = asyncio.Lock()
        self._poller = CapFeedPoller(spec.cap.feeds, spec.cap.poll_interval, self.receive_cap) \
            if spec.cap.feeds else None
        self._tasks: list[asyncio.Task[None]] = []
        self.acks = 0

    def _inbox_put(self, message: RawMessage) -> None:
        self._inbox.append(message)
        self._wake.set()

    async def start(self) -> None:
        self.warnings.expire(self._clock.now())
        self.warnings.announce(self._clock.now())
        self._tasks = [asyncio.create_task(self._consume(), name="federation-in"),
                       asyncio.create_task(self._expire(), name="warnings-expiry")]
        if self._publisher is not None:
            self._tasks.append(asyncio.create_task(self._publisher.run(), name="rollup"))
        if self._poller is not None:
            self._tasks.append(asyncio.create_task(self._poller.run(), name="cap-feeds"))

    async def stop(self) -> None:
        """Stop the tasks and send the last roll-ups (while the MQTT link is still up)."""
        await cancel_and_wait(self._tasks)
        self._tasks = []
        if self._publisher is not None:
            self._publisher.close()

    async def close(self) -> None:
        """After the hub drained its inbox: act on what was peeled off meanwhile, and close."""
        while self._inbox:
            await self._handle(self._inbox.popleft())
        self.store.close()

    # ------------------------------------------------------------------ down

    async def _consume(self) -> None:
        while True:
            while not self._inbox:
                self._wake.clear()
                await self._wake.wait()
            try:
                await self._handle(self._inbox.popleft())
            except Exception:
                logger.exception("message from the command centre failed")

    async def _handle(self, message: RawMessage) -> None:
        topic, payload, _ = message
        if topic == self._ack_topic:
            if apply_centre_action(self._alerts, payload, self._clock.now()) is not None:
                self.acks += 1
            return
        await self.receive_cap(payload, f"mqtt:{topic}")

    async def receive_cap(self, data: bytes, source: str) -> str:
        """Check a CAP document and act on it; returns what happened (for logs and tests)."""
        async with self._checking:
            now = self._clock.now()
            try:
                document = await asyncio.to_thread(self.ingest.check, data, now, source,
                                                   holds=self.warnings.holds)
            except CapRejectedError as exc:
                return f"rejected: {exc.reason.value}"
            return self.warnings.apply(document, self._clock.now(), source)

    async def _expire(self) -> None:
        while True:
            await asyncio.sleep(EXPIRY_CHECK_S)
            try:
                self.warnings.expire(self._clock.now())
            except Exception:
                logger.exception("expiring warnings failed")


class CapFeedPoller:
    """Polls Atom feeds whose entries link to (or embed) CAP documents; each entry version
    (id, updated) is fetched once. Our own hub's /api/cap/feed is such a feed."""

    def __init__(self, urls: list[str], interval_s: float,
                 receive: Callable[[bytes, str], Awaitable[str]], *, timeout_s: float = 10.0
                 ) -> None:
        self._urls = urls
        self._interval = interval_s
        self._receive = receive
        self._timeout = timeout_s
        self._seen: dict[str, set[tuple[str, str]]] = {u: set() for u in urls}
        self.polls = 0
        self.errors = 0

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=True) as client:
            while True:
                for url in self._urls:
                    try:
                        await self.poll(client, url)
                    except Exception:  # a bug on one feed must not stop the others
                        self.errors += 1
                        logger.exception("CAP feed %s: polling failed", url)
                await asyncio.sleep(self._interval)

    async def poll(self, client: httpx.AsyncClient, url: str) -> None:
        self.polls += 1
        try:
            response = await client.get(url, headers={"Accept": "application/atom+xml"})
            response.raise_for_status()
            entries = parse_atom(response.content)
        except (httpx.HTTPError, etree.XMLSyntaxError) as exc:
            self.errors += 1
            logger.warning("CAP feed %s: %s: %s", url, type(exc).__name__, exc)
            return
        seen, current = self._seen[url], set()
        for key, href, embedded in entries:
            current.add(key)
            if key in seen:
                continue
            if embedded is not None:
                data, source = embedded, f"feed:{url}#{key[0]}"
            elif href is not None:
                source = urljoin(url, href)
                try:
                    fetched = await client.get(source, headers={"Accept": CAP_MEDIA_TYPE})
                    fetched.raise_for_status()
                except httpx.HTTPError as exc:
                    self.errors += 1
                    logger.warning("CAP feed %s: entry %s: %s", url, source, exc)
                    continue  # not seen: tried again at the next poll
                data = fetched.content
            else:
                seen.add(key)
                continue
            outcome = await self._receive(data, f"feed:{source}")
            logger.info("CAP feed %s: %s -> %s", url, key[0], outcome)
            seen.add(key)
        seen.intersection_update(current)  # forget entries the feed dropped


def parse_atom(data: bytes) -> list[tuple[tuple[str, str], str | None, bytes | None]]:
    """((entry id, updated), link to a CAP document, embedded CAP document) per entry."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(data, parser)
    out: list[tuple[tuple[str, str], str | None, bytes | None]] = []
    for entry in root.iter(f"{_ATOM}entry"):
        key = (entry.findtext(f"{_ATOM}id") or "", entry.findtext(f"{_ATOM}updated") or "")
        embedded = entry.find(f".//{{{CAP_NS}}}alert")
        if embedded is not None:
            out.append((key, None, etree.tostring(embedded)))
            continue
        links = entry.findall(f"{_ATOM}link")
        cap = next((link for link in links if link.get("type") == CAP_MEDIA_TYPE), None)
        if cap is None:
            cap = next((link for link in links if link.get("rel", "alternate") == "alternate"),
                       None)
        out.append((key, cap.get("href") if cap is not None else None, None))
    return out
