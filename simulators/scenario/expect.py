"""Deciding expectations from what the hub shows. Pure: the runner fetches, this judges.

Time is the hub's (simulated) time. An expectation counts from when its `after` step actually
happened; an alert passes when it was raised by the deadline (`raised_at`, not when we saw
it), was delivered, is (not) an exercise, and cleared in time once the hazard ended. The
runner waits `grace` past a deadline before calling a missing alert missing: the hub's
processing and our polling take some real time, which is many simulated seconds at 600×.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from devices.site import Site
from simulators.scenario.model import AlertView, Expectation
from simulators.scenario.spec import show_duration

_EPSILON = 0.001


class Verdict(StrEnum):
    PENDING = "pending"
    PASSED = "pass"
    FAILED = "FAIL"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Delivery:
    receiver: str
    state: str
    sent_at: float | None


@dataclass(frozen=True, slots=True)
class Outcome:
    expectation: Expectation
    verdict: Verdict
    latency_s: float | None
    """Simulated seconds from the step (or start) to the alert."""
    detail: str
    alert_id: str | None


class Tracker:
    def __init__(self, expectation: Expectation, site: Site) -> None:
        self.expectation = expectation
        self._site = site
        self.since: float | None = None
        """When the `after` step happened (hub time); None until it has."""
        self.hazard_end: float | None = None
        self.verdict = Verdict.PENDING
        self.detail = ""
        self.alert: AlertView | None = None
        self.latency: float | None = None
        self._delivered: dict[str, Delivery] = {}
        self._cap_status: str | None = None
        self.decided_at: float | None = None

    # ------------------------------------------------------------------ runner calls

    def begin(self, now: float, hazard_s: float | None) -> None:
        """The step it counts from has happened; its hazard ends `hazard_s` later."""
        if self.since is None:
            self.since = now
            self.hazard_end = now + hazard_s if hazard_s is not None else None

    def skip(self, why: str) -> None:
        if self.verdict is Verdict.PENDING:
            self._decide(Verdict.SKIPPED, why, None)

    def fail(self, why: str) -> None:
        if self.verdict is Verdict.PENDING:
            self._decide(Verdict.FAILED, why, None)

    @property
    def decided(self) -> bool:
        return self.verdict is not Verdict.PENDING

    @property
    def open_ended(self) -> bool:
        """A no_alert watched to the scenario's end."""
        return self.expectation.kind == "no_alert" and self.expectation.within is None

    def wants_deliveries(self) -> str | None:
        e = self.expectation
        if self.decided or self.alert is None or not e.delivered_to:
            return None
        return None if all(r in self._delivered for r in e.delivered_to) else self.alert.id

    def wants_cap(self) -> str | None:
        if (self.decided or self.alert is None or self.expectation.exercise is None
                or self._cap_status is not None):
            return None
        return self.alert.id

    def take_deliveries(self, deliveries: Sequence[Delivery]) -> None:
        for d in deliveries:
            if d.state == "sent" and d.receiver not in self._delivered:
                self._delivered[d.receiver] = d

    def take_cap(self, document: str) -> None:
        for status in ("Exercise", "Actual", "Test", "System", "Draft"):
            if f"<status>{status}</status>" in document:
                self._cap_status = status
                return
        self._cap_status = "?"

    def update(self, alerts: Sequence[AlertView], baseline: frozenset[str], now: float,
               grace: float) -> None:
        if self.decided or self.since is None:
            return
        if self.expectation.kind == "no_alert":
            self._no_alert(alerts, baseline, now, grace)
        else:
            self._alert(alerts, baseline, now, grace)

    def finish(self, now: float) -> None:
        """The scenario is over: what is still open is decided now."""
        if self.decided:
            return
        if self.since is None:
            self._decide(Verdict.SKIPPED, f"step {self.expectation.after!r} never happened",
                         now)
        elif self.expectation.kind == "no_alert":
            self._decide(Verdict.PASSED, "none raised", now)
        elif self.alert is None:
            self._decide(Verdict.FAILED, "the scenario ended before the deadline passed",
                         now)
        else:
            self._decide(Verdict.FAILED, "the scenario ended before every check was met: "
                         + self._missing(), now)

    def outcome(self) -> Outcome:
        return Outcome(self.expectation, self.verdict, self.latency, self.detail,
                       self.alert.id if self.alert else None)

    # ------------------------------------------------------------------ judging

    def _matching(self, alerts: Sequence[AlertView], baseline: frozenset[str]
                  ) -> list[AlertView]:
        assert self.since is not None
        match = self.expectation.match
        return sorted((a for a in alerts if a.id not in baseline
                       and a.raised_at >= self.since - _EPSILON
                       and match.matches(a, self._site)), key=lambda a: a.raised_at)

    def _no_alert(self, alerts: Sequence[AlertView], baseline: frozenset[str], now: float,
                  grace: float) -> None:
        assert self.since is not None
        within = self.expectation.within
        end = self.since + within if within is not None else float("inf")
        offenders = [a for a in self._matching(alerts, baseline) if a.raised_at <= end]
        if offenders:
            a = offenders[0]
            self.alert = a
            self._decide(Verdict.FAILED, f"raised {a.rule} about {a.place} "
                         f"{show_duration(a.raised_at - self.since)} in ({a.id})", now)
        elif now > end + grace:
            self._decide(Verdict.PASSED, "none raised", now)

    def _alert(self, alerts: Sequence[AlertView], baseline: frozenset[str], now: float,
               grace: float) -> None:
        e = self.expectation
        assert self.since is not None
        assert e.within is not None
        deadline = self.since + e.within
        if self.alert is None:
            found = self._matching(alerts, baseline)
            if not found:
                if now > deadline + grace:
                    self._decide(Verdict.FAILED, f"no matching alert within "
                                 f"{show_duration(e.within)}{self._others(alerts, baseline)}",
                                 now)
                return
            self.alert = found[0]
            self.latency = self.alert.raised_at - self.since
            if self.latency > e.within + _EPSILON:
                self._decide(Verdict.FAILED, f"raised {show_duration(self.latency)} after, "
                             f"later than {show_duration(e.within)}", now)
                return
        else:
            self.alert = next((a for a in alerts if a.id == self.alert.id), self.alert)
        problem = self._checks(now, deadline, grace)
        if problem is not None:
            self._decide(Verdict.FAILED, problem, now)
        elif not self._missing():
            assert self.latency is not None
            self._decide(Verdict.PASSED, self._passed_detail(), now)

    def _checks(self, now: float, deadline: float, grace: float) -> str | None:
        """Why the found alert fails, or None while it passes or may still pass."""
        e, alert = self.expectation, self.alert
        assert alert is not None
        if e.exercise is not None:
            if alert.exercise is not e.exercise:
                return f"the alert is {'not ' if e.exercise else ''}an exercise"
            wanted = "Exercise" if e.exercise else "Actual"
            if self._cap_status is not None and self._cap_status != wanted:
                return f"its CAP status is {self._cap_status}, not {wanted}"
        late = now > deadline + grace
        missing = [r for r in e.delivered_to if r not in self._delivered]
        if missing and late:
            return f"not delivered to {', '.join(missing)} by the deadline"
        if e.resolved_within is not None and self.hazard_end is not None:
            if alert.cleared_at is not None:
                took = alert.cleared_at - self.hazard_end
                if took > e.resolved_within + _EPSILON:
                    return (f"cleared {show_duration(took)} after the hazard ended, later "
                            f"than {show_duration(e.resolved_within)}")
            elif now > self.hazard_end + e.resolved_within + grace:
                return (f"still active {show_duration(e.resolved_within)} after the hazard "
                        "ended")
        return None

    def _missing(self) -> str:
        e, alert = self.expectation, self.alert
        if alert is None:
            return "no alert yet"
        missing = []
        undelivered = [r for r in e.delivered_to if r not in self._delivered]
        if undelivered:
            missing.append(f"delivery to {', '.join(undelivered)}")
        if e.exercise is not None and self._cap_status is None:
            missing.append("CAP status")
        if e.resolved_within is not None and alert.cleared_at is None:
            missing.append("resolution")
        return ", ".join(missing)

    def _passed_detail(self) -> str:
        assert self.alert is not None
        assert self.latency is not None
        after = self.expectation.after or "the start"
        parts = [f"{self.alert.rule} about {self.alert.place} raised "
                 f"{show_duration(self.latency)} after {after}"]
        if self._delivered:
            since = self.since or 0.0
            parts.append("delivered " + ", ".join(
                f"{r} +{show_duration(max(0.0, (d.sent_at or since) - since))}"
                for r, d in self._delivered.items()))
        if self.expectation.exercise is not None:
            parts.append(f"CAP {self._cap_status}")
        if self.alert.cleared_at is not None and self.hazard_end is not None:
            took = max(0.0, self.alert.cleared_at - self.hazard_end)
            parts.append(f"cleared {show_duration(took)} after the hazard ended")
        return "; ".join(parts)

    def _others(self, alerts: Sequence[AlertView], baseline: frozenset[str]) -> str:
        """Alerts of the same rule or category elsewhere: usually the reason for a miss."""
        m = self.expectation.match
        assert self.since is not None
        near = [a for a in alerts if a.id not in baseline and a.raised_at >= self.since
                and (a.rule == m.rule or a.category == m.category)][:3]
        if not near:
            return ""
        return "; raised instead: " + ", ".join(f"{a.rule} @ {a.place} ({a.severity})"
                                                for a in near)

    def _decide(self, verdict: Verdict, detail: str, now: float | None) -> None:
        self.verdict = verdict
        self.detail = detail
        self.decided_at = now


def deliveries_from(rows: Sequence[Mapping[str, object]]) -> list[Delivery]:
    """Delivery receipts as the API gives them (tests build them by hand)."""
    out = []
    for row in rows:
        sent_at = row.get("sent_at")
        out.append(Delivery(str(row["receiver"]), str(row["state"]),
                            float(sent_at) if isinstance(sent_at, int | float) else None))
    return out
