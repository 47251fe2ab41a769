"""What a scenario run found, and how it is shown: progress lines, the final table, JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from simulators.scenario.expect import Outcome, Verdict
from simulators.scenario.spec import show_duration

MARKS = {Verdict.PASSED: "✓", Verdict.FAILED: "✗", Verdict.SKIPPED: "–",
         Verdict.PENDING: "?"}


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    name: str
    title: str
    source: str
    speed: float
    outcomes: tuple[Outcome, ...]
    simulated_s: float
    wall_s: float
    notes: tuple[str, ...] = ()
    error: str | None = None
    """Why the run could not finish (the hub went away ...); its open checks failed."""

    @property
    def passed(self) -> bool:
        return self.error is None and all(o.verdict is not Verdict.FAILED
                                          for o in self.outcomes)

    def count(self, verdict: Verdict) -> int:
        return sum(1 for o in self.outcomes if o.verdict is verdict)


def offset_label(seconds: float) -> str:
    """`+00:01:30` (hours:minutes:seconds of simulated time since the start)."""
    seconds = max(0.0, seconds)
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"+{h:02d}:{m:02d}:{s:02d}"


def outcome_line(o: Outcome) -> str:
    return f"{MARKS[o.verdict]} {o.expectation.name} — {o.detail}"


def results_table(result: ScenarioResult) -> str:
    rows = [("#", "expectation", "result", "latency", "real")]
    for o in result.outcomes:
        latency = "" if o.latency_s is None else show_duration(round(o.latency_s, 1))
        real = "" if o.latency_s is None else f"{o.latency_s / result.speed:.2f} s"
        rows.append((str(o.expectation.index + 1), o.expectation.name, o.verdict.value,
                     latency, real))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    widths[1] = min(widths[1], 70)
    lines = []
    for i, row in enumerate(rows):
        cells = [row[0].rjust(widths[0]), _clip(row[1], widths[1]).ljust(widths[1]),
                 row[2].ljust(widths[2]), row[3].rjust(widths[3]), row[4].rjust(widths[4])]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("─" * w for w in widths))
    failed = [o for o in result.outcomes if o.verdict is Verdict.FAILED]
    for o in failed:
        lines.append(f"  ✗ {o.expectation.index + 1}: {o.detail}")
    if result.error:
        lines.append(f"  error: {result.error}")
    lines.append(summary_line(result))
    return "\n".join(lines)


def summary_line(result: ScenarioResult) -> str:
    status = "PASSED" if result.passed else "FAILED"
    return (f"{result.name}: {status} — {result.count(Verdict.PASSED)} passed, "
            f"{result.count(Verdict.FAILED)} failed, {result.count(Verdict.SKIPPED)} skipped; "
            f"{show_duration(round(result.simulated_s))} simulated in {result.wall_s:.1f} s "
            f"({result.speed:g}×)")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def junit_xml(results: Sequence[ScenarioResult]) -> bytes:
    """One <testsuite> per scenario, one <testcase> per expectation (time: real seconds
    from the start to the alert)."""
    suites = ET.Element("testsuites", name="shouwang scenarios",
                        tests=str(sum(len(r.outcomes) for r in results)),
                        failures=str(sum(r.count(Verdict.FAILED) for r in results)),
                        errors=str(sum(1 for r in results if r.error)),
                        skipped=str(sum(r.count(Verdict.SKIPPED) for r in results)),
                        time=f"{sum(r.wall_s for r in results):.3f}")
    for r in results:
        suite = ET.SubElement(suites, "testsuite", name=r.name, tests=str(len(r.outcomes)),
                              failures=str(r.count(Verdict.FAILED)),
                              errors="1" if r.error else "0",
                              skipped=str(r.count(Verdict.SKIPPED)), time=f"{r.wall_s:.3f}",
                              file=r.source)
        props = ET.SubElement(suite, "properties")
        for key, value in (("title", r.title), ("speed", f"{r.speed:g}"),
                           ("simulated_seconds", f"{r.simulated_s:.0f}")):
            ET.SubElement(props, "property", name=key, value=value)
        for o in r.outcomes:
            real = 0.0 if o.latency_s is None else o.latency_s / r.speed
            case = ET.SubElement(suite, "testcase", classname=f"scenarios.{r.name}",
                                 name=o.expectation.name, time=f"{real:.3f}")
            if o.expectation.line is not None:
                case.set("file", r.source)
                case.set("line", str(o.expectation.line))
            if o.verdict is Verdict.FAILED:
                ET.SubElement(case, "failure", message=o.detail).text = o.detail
            elif o.verdict is Verdict.SKIPPED:
                ET.SubElement(case, "skipped", message=o.detail)
            else:
                latency = "" if o.latency_s is None else \
                    f" (latency {o.latency_s:.1f} s simulated)"
                ET.SubElement(case, "system-out").text = o.detail + latency
        if r.error:
            ET.SubElement(suite, "error", message=r.error).text = r.error
        if r.notes:
            ET.SubElement(suite, "system-out").text = "\n".join(r.notes)
    ET.indent(suites)
    document: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
    return document
