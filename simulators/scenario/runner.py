"""Running a scenario against a hub: the community, the timeline, the checks.

1. Ask the hub who it is (its site must be the scenario's) and what clock it runs on.
2. Set the hub's clock (PUT /api/clock) to the scenario's start, still at 1×; connect the
   site's devices; every device says it is online and reports once; wait until the hub has
   heard them all. A big jump of the clock can make the hub think the devices it watches for
   silence were late before they report (one tick's worth of luck): such alerts, raised and
   cleared during set-up, are counted as set-up, not as the scenario's.
3. Start the drill if it is one; set the clock's speed; from now (t0) run the timeline:
   each step's actions at their offsets, the fleet and the residents' routines in between,
   and every `poll_s` real seconds read the hub's alerts and judge the expectations.
4. When every step has happened and every expectation is decided, end the drill, set the
   clock back to 1×, and let every device say it is offline.

Device timestamps are the runner's estimate of the hub's simulated time, kept a little behind
it (a reading from the future would be refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import time as time_of_day
from zoneinfo import ZoneInfo

from simulators.driver import HOLD_S, Community
from simulators.fleet import Fleet
from simulators.gateway import DeviceWills, FleetLink
from simulators.routine import Routines
from simulators.scenario.expect import Delivery, Tracker, Verdict
from simulators.scenario.hubapi import HubApi, HubError
from simulators.scenario.model import (
    Action,
    AlertView,
    HoldHome,
    Mute,
    Operate,
    RestartBroker,
    Restore,
    ResumeHome,
    Scenario,
    SendEvent,
    SetAvailable,
    SetValues,
)
from simulators.scenario.report import ScenarioResult, offset_label, outcome_line

logger = logging.getLogger(__name__)

BrokerRestart = Callable[[], Awaitable[None]]
Say = Callable[[str], None]

_BIG_JUMP_S = 120.0
"""A clock jump larger than this may find the hub judging silence before the devices speak."""


class ScenarioError(Exception):
    """The scenario cannot run against this hub (wrong site, system clock, drill running)."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    broker: tuple[str, int]
    speed: float | None = None
    """Overrides the scenario's speed."""
    drill: bool = False
    """Run as a drill even if the scenario does not say so."""
    broker_restart: BrokerRestart | str | None = None
    """How to restart the broker: a coroutine function, or a command (run without a shell);
    overrides a scenario's own `command`."""
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    device_wills: DeviceWills = "none"
    by: str = "shouwang-scenario"
    """Who the drill, acknowledgements and set-up clean-up are recorded as."""
    poll_s: float = 0.1
    step_s: float = 0.01
    grace_real_s: float = 1.5
    setup_timeout_s: float = 15.0


class SimClock:
    """The runner's estimate of the hub's clock: set from the hub's answer on arrival, so it
    runs a little behind the hub's own. It never goes back (a device's readings must not)."""

    def __init__(self, now: float, speed: float = 1.0) -> None:
        self._base = now
        self._real = time.monotonic()
        self.speed = speed

    def set(self, now: float, speed: float) -> None:
        self._base = max(now, self.now())
        self._real = time.monotonic()
        self.speed = speed

    def now(self) -> float:
        return self._base + (time.monotonic() - self._real) * self.speed


def resolve_start(start: time_of_day | float, hub_now: float, zone: ZoneInfo) -> float:
    """The instant a scenario starts: the next time of day at or after the hub's now."""
    if isinstance(start, float):
        return start
    today = datetime.fromtimestamp(hub_now, zone).date()
    candidate = datetime.combine(today, start.replace(tzinfo=None), zone).timestamp()
    return candidate if candidate >= hub_now else candidate + 86_400.0


async def run_scenario(scenario: Scenario, api: HubApi, options: RunOptions,
                       say: Say = lambda line: None) -> ScenarioResult:
    """Run it; a problem before t0 raises ScenarioError, after it ends up in the result."""
    return await _Run(scenario, api, options, say).go()


class _Run:
    def __init__(self, scenario: Scenario, api: HubApi, options: RunOptions, say: Say) -> None:
        self.scenario = scenario
        self.site = scenario.site
        self.api = api
        self.options = options
        self.say = say
        self.speed = options.speed or scenario.speed
        self.trackers = [Tracker(e, self.site) for e in scenario.expectations]
        self.notes: list[str] = []
        self.baseline: frozenset[str] = frozenset()
        self.clock = SimClock(time.time())
        self.simulated = False
        self.t0 = 0.0
        self.started_steps: set[int] = set()
        self.told: set[int] = set()
        """Expectations whose verdict has been said."""
        self.background: list[asyncio.Task[None]] = []
        self.drill_started = False
        self.link: FleetLink | None = None
        self.community: Community | None = None

    # ------------------------------------------------------------------ the run

    async def go(self) -> ScenarioResult:
        wall = time.monotonic()
        error: str | None = None
        try:
            await self._check_hub()
            await self._setup()
            try:
                await self._timeline()
            except (HubError, OSError) as exc:
                error = str(exc)
                self.say(f"error: {exc}")
        finally:
            await self._teardown()
        now = self.clock.now()
        for tracker in self.trackers:
            if error is not None:
                tracker.fail(f"not decided: {error}")
            tracker.finish(now)
        return ScenarioResult(
            self.scenario.name, self.scenario.title, str(self.scenario.source), self.speed,
            tuple(t.outcome() for t in self.trackers), max(0.0, now - self.t0),
            time.monotonic() - wall, tuple(self.notes), error)

    async def _check_hub(self) -> None:
        s = self.scenario
        try:
            health = await self.api.health()
            hub_clock = await self.api.clock()
        except HubError as exc:
            raise ScenarioError(str(exc)) from None
        if health.site != self.site.id:
            raise ScenarioError(f"the hub at {self.api.url} watches site {health.site!r}, but "
                                f"this scenario's site ({s.site_path}) is {self.site.id!r}: "
                                "run the hub with the scenario's site")
        if health.devices != len(self.site.devices):
            self._note(f"the hub's site has {health.devices} devices, the scenario's "
                       f"{len(self.site.devices)}: are they the same file?")
        self.simulated = hub_clock.simulated
        if not self.simulated and (self.speed != 1 or s.start is not None):
            wanted = f"{self.speed:g}× simulated time" + (" from a set start" if s.start
                                                          is not None else "")
            raise ScenarioError(f"{s.name} runs at {wanted}, but the hub at {self.api.url} "
                                "runs on the system clock: start it with `clock: {kind: "
                                "simulated}` in its config (or run with --speed 1)")

    async def _setup(self) -> None:
        s, opts = self.scenario, self.options
        jumped = False
        if self.simulated:
            hub_now = (await self.api.clock()).now
            start = None
            if s.start is not None:
                start = resolve_start(s.start, hub_now, ZoneInfo(self.site.timezone))
                if start < hub_now:
                    raise ScenarioError(
                        f"the hub's clock is already past the scenario's start "
                        f"({_local(start, self.site.timezone)}) and only moves forward: "
                        "restart the hub, or give `start` as a time of day")
                jumped = start - hub_now > _BIG_JUMP_S
            answer = await self.api.set_clock(start, 1.0)
            self.clock.set(answer.now, 1.0)
        host, port = opts.broker
        routines = Routines(self.site, seed=s.background.seed) if s.background.routines \
            else None
        fleet = Fleet(self.site, interval_scale=s.background.interval_scale,
                      seed=s.background.seed)
        self.link = FleetLink(self.site, host, port, device_wills=opts.device_wills,
                              client_prefix=f"scn-{s.name}", username=opts.mqtt_username,
                              password=opts.mqtt_password)
        try:
            await asyncio.to_thread(self.link.open)
        except OSError as exc:
            self.link = None
            raise ScenarioError(f"cannot connect the simulated devices to "
                                f"mqtt://{host}:{port}: {exc}") from None
        self.community = Community(fleet, self.link, routines)
        setup_from = self.clock.now()
        self.community.start(setup_from)
        heard = await self._wait_heard()
        if jumped:  # let one hub tick pass: what it judges now is set-up, not scenario
            await self._idle(1.2)
        alerts = await self.api.alerts()
        self.baseline = frozenset(a.id for a in alerts)
        await self._tidy_setup(alerts, setup_from)
        if s.drill is not None or opts.drill:
            await self._start_drill(s.drill or s.title)
        if self.simulated and self.speed != 1.0:
            answer = await self.api.set_clock(None, self.speed)
            self.clock.set(answer.now, self.speed)
        self.t0 = self.clock.now()
        for tracker in self.trackers:
            if tracker.expectation.after is None:
                tracker.begin(self.t0, None)
        where = f"from {_local(self.t0, self.site.timezone)} ({self.site.timezone})"
        self.say(f"▶ {s.name} — {s.title}")
        self.say(f"  site {self.site.id}: {len(self.site.devices)} devices ({heard} heard), "
                 f"{len(self.link.site.residents)} residents; {self.speed:g}× "
                 f"{'simulated' if self.simulated else 'real'} time {where}"
                 + (" — DRILL" if self.drill_started else ""))

    async def _wait_heard(self) -> int:
        deadline = time.monotonic() + self.options.setup_timeout_s
        want = len(self.site.devices)
        online = 0
        while time.monotonic() < deadline:
            online = (await self.api.health()).devices_online
            if online >= want:
                return online
            await self._idle(0.05)
        self._note(f"only {online} of {want} devices were online at the hub after "
                   f"{self.options.setup_timeout_s:g} s of set-up")
        return online

    async def _tidy_setup(self, alerts: list[AlertView], setup_from: float) -> None:
        noise = [a for a in alerts if a.active and a.raised_at >= setup_from - 1.0]
        older = [a for a in alerts if a.active and a.raised_at < setup_from - 1.0]
        if older:
            self._note(f"{len(older)} alert(s) were already active at the hub; they do not "
                       "count for this scenario")
        for a in noise:
            with contextlib.suppress(HubError):
                await self.api.act(a.id, "clear", self.options.by,
                                   "raised while a scenario set the hub's clock")
        if noise:
            self._note(f"set-up: cleared {len(noise)} alert(s) raised while the clock was "
                       f"set ({', '.join(sorted({a.rule for a in noise}))})")

    async def _start_drill(self, name: str) -> None:
        try:
            await self.api.start_drill(name, self.options.by)
        except HubError as exc:
            if exc.status == 409:
                raise ScenarioError(f"the hub is already running a drill: {exc}. End it "
                                    "(DELETE /api/drill) or run without --drill") from None
            raise ScenarioError(str(exc)) from None
        self.drill_started = True

    async def _timeline(self) -> None:
        s, opts = self.scenario, self.options
        assert self.community is not None
        actions = deque(s.actions)
        end = s.planned_end()
        grace = opts.grace_real_s * self.speed + 1.0
        next_poll = 0.0
        while True:
            now = self.clock.now()
            offset = now - self.t0
            while actions and actions[0].at <= offset:
                await self._do(actions.popleft(), now)
            self.community.step(now)
            if time.monotonic() >= next_poll:
                await self._poll(now, grace)
                next_poll = time.monotonic() + opts.poll_s
            if not actions and not self.background and offset >= (s.duration or 0.0) and all(
                    t.decided or t.open_ended for t in self.trackers):
                break
            if offset > end + 4 * grace + 60.0:
                self._note("stopped: the scenario ran well past its last deadline")
                break
            await asyncio.sleep(opts.step_s)
            self.background = [t for t in self.background if not t.done()]
        await self._poll(self.clock.now(), grace)

    async def _idle(self, seconds: float) -> None:
        """Wait in real time, the community going on meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.community is not None:
                self.community.step(self.clock.now())
            await asyncio.sleep(0.02)

    async def _teardown(self) -> None:
        if self.drill_started:
            try:
                await self.api.end_drill(self.options.by)
            except HubError as exc:
                self._note(f"could not end the drill: {exc}")
        if self.simulated and self.speed != 1.0 and self.t0:
            with contextlib.suppress(HubError):
                await self.api.set_clock(None, 1.0)
        for task in self.background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.link is not None:
            await asyncio.to_thread(self.link.close, offline=True)

    # ------------------------------------------------------------------ actions

    async def _do(self, action: Action, now: float) -> None:
        c = self.community
        assert c is not None
        if action.step not in self.started_steps:
            self._begin_step(action.step, now)
        if isinstance(action, SetValues):
            c.set_values(action.device, action.values, now,
                         HOLD_S if action.hold_s is None else action.hold_s)
        elif isinstance(action, Restore):
            c.restore(action.device, now)
        elif isinstance(action, SendEvent):
            c.event(action.device, action.type, now)
        elif isinstance(action, SetAvailable):
            c.set_available(action.device, action.online)
        elif isinstance(action, Mute):
            c.mute(action.device, action.muted)
        elif isinstance(action, HoldHome):
            c.hold_home(action.unit, now, dict(action.active))
        elif isinstance(action, ResumeHome):
            c.resume_home(action.unit, now)
        elif isinstance(action, Operate):
            await self._operate(action)
        else:
            self._restart_broker(action)

    def _begin_step(self, index: int, now: float) -> None:
        self.started_steps.add(index)
        step = self.scenario.steps[index]
        self.say(f"[{offset_label(now - self.t0)}] {step.summary}")
        hazard = None if step.end == float("inf") else step.end - step.at
        for tracker in self.trackers:
            if tracker.expectation.after == step.id:
                tracker.begin(now, hazard)

    async def _operate(self, action: Operate) -> None:
        alerts = await self.api.alerts()
        targets = [a for a in alerts if a.active and a.id not in self.baseline
                   and a.raised_at >= self.t0 and action.match.matches(a, self.site)]
        done = 0
        for a in targets:
            try:
                await self.api.act(a.id, action.action, action.by, action.note)
                done += 1
            except HubError as exc:
                if exc.status != 409:  # 409: someone else got there first
                    raise
        verb = "acknowledged" if action.action == "acknowledge" else "cleared"
        self.say(f"           {verb} {done} alert(s)")

    def _restart_broker(self, action: RestartBroker) -> None:
        hook = self.options.broker_restart or action.command
        step = self.scenario.steps[action.step]
        if hook is None:
            why = ("skipped: this runner cannot restart the broker (give the step a "
                   "`command:` or run with --broker-restart CMD)")
            self.say(f"           {why}")
            self._note(f"step {step.id}: {why}")
            for tracker in self.trackers:
                if tracker.expectation.after == step.id:
                    tracker.skip(why)
            return
        self.background.append(asyncio.create_task(self._run_hook(hook, step.id)))

    async def _run_hook(self, hook: BrokerRestart | str, step_id: str) -> None:
        started = time.monotonic()
        try:
            if isinstance(hook, str):
                process = await asyncio.create_subprocess_exec(
                    *shlex.split(hook), stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT)
                output, _ = await process.communicate()
                if process.returncode != 0:
                    raise RuntimeError(f"`{hook}` exited with {process.returncode}: "
                                       f"{output.decode(errors='replace').strip()[-300:]}")
            else:
                await hook()
        except Exception as exc:
            self.say(f"           broker restart failed: {exc}")
            for tracker in self.trackers:
                if tracker.expectation.after == step_id:
                    tracker.fail(f"the broker restart failed: {exc}")
            return
        self.say(f"           broker back after {time.monotonic() - started:.1f} s (real)")

    # ------------------------------------------------------------------ checks

    async def _poll(self, now: float, grace: float) -> None:
        alerts = await self.api.alerts()
        for tracker in self.trackers:
            tracker.update(alerts, self.baseline, now, grace)
            alert_id = tracker.wants_deliveries()
            if alert_id is not None:
                rows = await self.api.deliveries(alert_id)
                tracker.take_deliveries([Delivery(d.receiver, d.state, d.sent_at)
                                         for d in rows])
            alert_id = tracker.wants_cap()
            if alert_id is not None:
                tracker.take_cap(await self.api.cap(alert_id))
            tracker.update(alerts, self.baseline, now, grace)
            index = tracker.expectation.index
            if tracker.decided and index not in self.told:
                self.told.add(index)
                if tracker.verdict is not Verdict.SKIPPED:
                    self.say(f"[{offset_label(now - self.t0)}] "
                             f"{outcome_line(tracker.outcome())}")

    def _note(self, text: str) -> None:
        self.notes.append(text)
        self.say(f"  note: {text}")


def _local(ts: float, zone: str) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")
