"""What the web layer keeps beside the hub: users and sessions, the care log, the live alert
feed, failed-login counts and cached device vitals. One per app, reached through `WebDep`.

The stores open on first use, from the hub's data directory (their tables live in hub.db),
so an app can be made before its hub has started.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

from hub.api.livefeed import LiveFeed
from hub.api.vitals import DeviceVitals
from hub.auth.settings import AuthSettings
from hub.auth.store import AuthStore, seed_first_admin
from hub.care import CareLog
from hub.service import Hub

MAX_FAILURES = 5
FAILURE_WINDOW_S = 300.0


class LoginThrottle:
    """After five wrong passwords for a name in five minutes, that name waits."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}

    def wait_s(self, name: str, now: float) -> float:
        """Seconds until `name` may try again (0: now)."""
        failures = self._failures.get(name)
        if not failures:
            return 0.0
        while failures and now - failures[0] > FAILURE_WINDOW_S:
            failures.popleft()
        if len(failures) < MAX_FAILURES:
            return 0.0
        return FAILURE_WINDOW_S - (now - failures[0])

    def failed(self, name: str, now: float) -> None:
        self._failures.setdefault(name, deque(maxlen=MAX_FAILURES)).append(now)

    def succeeded(self, name: str) -> None:
        self._failures.pop(name, None)


class WebState:
    def __init__(self, hub: Hub, settings: AuthSettings | None = None) -> None:
        self.hub = hub
        self.settings = settings or AuthSettings()
        self.throttle = LoginThrottle()
        self.vitals = DeviceVitals(hub)
        self._auth: AuthStore | None = None
        self._care: CareLog | None = None
        self._live: LiveFeed | None = None

    @property
    def db_path(self) -> Path:
        return self.hub.config.data_dir / "hub.db"

    @property
    def auth(self) -> AuthStore:
        if self._auth is None:
            self._auth = open_auth_store(self.db_path, self.settings)
        return self._auth

    @property
    def care(self) -> CareLog:
        if self._care is None:
            self._care = CareLog(self.db_path)
        return self._care

    @property
    def live(self) -> LiveFeed:
        """Subscribed to the hub's alerts on first use (the hub is running by then)."""
        if self._live is None:
            self._live = LiveFeed(self.hub)
        return self._live

    def close(self) -> None:
        if self._live is not None:
            self._live.close()
            self._live = None
        for store in (self._auth, self._care):
            if store is not None:
                store.close()
        self._auth = self._care = None


def open_auth_store(path: Path, settings: AuthSettings) -> AuthStore:
    """The store, with a first admin from SHOUWANG_ADMIN_PASSWORD when it has no users."""
    store = AuthStore(path, clock=time.time)
    seed_first_admin(store, settings, without_users=(
        "Set SHOUWANG_ADMIN_PASSWORD or run "
        "`shouwang user add NAME --role admin --config hub.yaml`"))
    return store
