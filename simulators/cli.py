"""The simulator commands of `shouwang`: `simulate` (the fleet, or load mode), `scenario run`,
`scenario check` and `site generate`.

`hub/cli.py` adds them to its parser (`add_simulate_parser(sub)`, `add_scenario_parser(sub)`,
`add_site_parser(sub)`); `python -m simulators.cli ...` runs them on their own. Each command is
a function of the parsed arguments returning the exit code: 0 done / all passed, 1 a scenario
failed, 2 a file or the hub is not as the command needs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

import yaml
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from devices.yamlsource import ConfigError

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]



class SimulatorSecrets(BaseSettings):
    """From the environment (or .env), never from the command line's history."""

    model_config = SettingsConfigDict(env_prefix="SHOUWANG_", env_file=".env", extra="ignore")
    token: SecretStr | None = None
    """SHOUWANG_TOKEN: the hub API token scenarios send as `Authorization: Bearer ...`."""
    mqtt_password: SecretStr | None = None


def broker_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{url!r}: expected mqtt://host:port")
    return parts.hostname, parts.port or 1883


def hub_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{url!r}: expected http://host:port")
    return url.rstrip("/")


def _say(stream: TextIO) -> Any:
    def say(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()
    return say


def _mqtt_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", type=broker_url, default=("127.0.0.1", 1883),
                        help="mqtt://host:port (default mqtt://127.0.0.1:1883)")
    parser.add_argument("--mqtt-username", help="broker user; the password comes from "
                        "SHOUWANG_MQTT_PASSWORD")


# ---------------------------------------------------------------- simulate


def add_simulate_parser(sub: Subparsers) -> argparse.ArgumentParser:
    sim: argparse.ArgumentParser = sub.add_parser(
        "simulate", help="publish a site's devices to a broker (or load-test it with --rate)",
        description="Every device reports at its kind's interval; residents in the care "
                    "programme live daily routines. A clean stop says every device is "
                    "offline; after kill -9 the devices' last wills do (see docs/scenarios.md)."
                    " With --rate: load mode, pre-encoded messages at an aggregate rate.")
    sim.add_argument("--site", type=Path, required=True, help="site YAML (or hub config)")
    _mqtt_options(sim)
    sim.add_argument("--interval-scale", type=float, default=1.0,
                     help="multiply every report interval (0.01 = 100x faster)")
    sim.add_argument("--duration", type=float, default=None,
                     help="seconds, default forever (load mode: 30)")
    sim.add_argument("--no-routines", dest="routines", action="store_false",
                     help="care residents' sensors report noise instead of a day's routine")
    sim.add_argument("--wills", choices=["ip", "all", "none"], default="ip",
                     help="devices holding a last-will session of their own: IP devices "
                          "(default), all (small sites only), none (gateway wills only)")
    sim.add_argument("--seed", type=int, default=1)
    load = sim.add_argument_group("load mode")
    load.add_argument("--rate", type=float, default=None,
                      help="messages/s for all devices together (0: as fast as possible)")
    load.add_argument("--devices", type=int, default=None, help="the first N devices only")
    load.add_argument("--count", type=int, default=None, help="stop after N messages")
    load.add_argument("--processes", type=int, default=1,
                      help="publishing processes (see benchmarks/simulator.py for what one "
                           "process does)")
    load.add_argument("--qos", type=int, choices=[0, 1], default=1)
    sim.set_defaults(func=cmd_simulate)
    return sim


def cmd_simulate(args: argparse.Namespace) -> int:
    from devices.site import load_site

    site = load_site(args.site.read_text(encoding="utf-8"), str(args.site))
    host, port = args.broker
    password = SimulatorSecrets().mqtt_password
    secret = password.get_secret_value() if password else None
    if args.rate is not None:
        return _load(site, host, port, args, secret)
    from simulators.run import simulate

    asyncio.run(simulate(site, host, port, interval_scale=args.interval_scale,
                         duration_s=args.duration, routines=args.routines,
                         device_wills=args.wills, seed=args.seed,
                         username=args.mqtt_username, password=secret))
    return 0


def _load(site: Any, host: str, port: int, args: argparse.Namespace,
          password: str | None) -> int:
    from simulators.load import LoadPlan, LoadProgress, render_progress, run_load

    duration = args.duration if args.duration is not None else (
        None if args.count is not None else 30.0)
    plan = LoadPlan(rate=args.rate, duration_s=duration, count=args.count,
                    devices=args.devices, processes=args.processes, qos=args.qos,
                    seed=args.seed)
    tty = sys.stderr.isatty()
    last_line = [0.0]

    def progress(p: LoadProgress) -> None:
        line = render_progress(p, plan)
        if tty:
            sys.stderr.write("\r" + line + "\x1b[K")
            sys.stderr.flush()
        elif time.monotonic() - last_line[0] >= 2.0:
            last_line[0] = time.monotonic()
            sys.stderr.write(line + "\n")

    try:
        result = run_load(site, host, port, plan, progress=progress,
                          username=args.mqtt_username, password=password)
    except ValueError as exc:
        sys.stderr.write(f"shouwang: {exc}\n")
        return 2
    if tty:
        sys.stderr.write("\n")
    target = f"{plan.rate:,.0f}/s" if plan.rate > 0 else "as fast as possible"
    acked = (f", {result.acked:,} acknowledged by the broker ({result.acked_rate:,.0f}/s)"
             if plan.qos else "")
    sys.stdout.write(
        f"load: {result.devices:,} devices, {result.processes} process(es), QoS {plan.qos}: "
        f"{result.sent:,} messages in {result.elapsed_s:.1f} s = {result.rate:,.0f}/s "
        f"(target {target}){acked}\n")
    if plan.rate > 0 and result.rate < 0.95 * plan.rate:
        sys.stdout.write("load: below the target rate: add --processes, or the broker is "
                         "the limit\n")
    return 0


# ---------------------------------------------------------------- scenarios


def add_scenario_parser(sub: Subparsers) -> argparse.ArgumentParser:
    scenario: argparse.ArgumentParser = sub.add_parser(
        "scenario", help="run scripted incidents against a hub and check what it does")
    commands = scenario.add_subparsers(dest="scenario_command", required=True)
    run = commands.add_parser(
        "run", help="run scenario files against a hub; exit 1 when an expectation fails",
        description="Connects the scenario site's devices to the broker, drives the hub's "
                    "simulated clock, injects the timeline and checks the expectations over "
                    "the hub's HTTP API. See docs/scenarios.md.")
    run.add_argument("paths", type=Path, nargs="+", help="scenario YAML files")
    run.add_argument("--hub", type=hub_url, default="http://127.0.0.1:8080",
                     help="the hub's HTTP API (default http://127.0.0.1:8080)")
    _mqtt_options(run)
    run.add_argument("--token", help="hub API token (default: SHOUWANG_TOKEN), sent as "
                                     "Authorization: Bearer ...")
    run.add_argument("--speed", type=float, default=None,
                     help="simulated seconds per real second, instead of the scenario's "
                          "(the hub needs `clock: {kind: simulated}` unless 1)")
    run.add_argument("--drill", action="store_true",
                     help="run as a drill (演练) even if the scenario does not say so")
    run.add_argument("--junit", type=Path, help="write a JUnit XML report here")
    run.add_argument("--broker-restart", metavar="COMMAND",
                     help="how to restart the broker for `broker_restart` steps (run without "
                          "a shell, e.g. 'systemctl restart mosquitto')")
    run.add_argument("--wills", choices=["ip", "all", "none"], default="none",
                     help="device will sessions during the run (default none: gateways only)")
    run.set_defaults(func=cmd_scenario_run)
    check = commands.add_parser("check", help="validate scenario files (and their sites)")
    check.add_argument("paths", type=Path, nargs="+")
    check.set_defaults(func=cmd_scenario_check)
    return scenario


def cmd_scenario_check(args: argparse.Namespace) -> int:
    from simulators.scenario import load_scenario

    for path in args.paths:
        s = load_scenario(path)
        sys.stdout.write(f"{path}: {s.name} OK — {len(s.steps)} step(s), "
                         f"{len(s.expectations)} expectation(s), site {s.site.id} "
                         f"({len(s.site.devices)} devices), {s.speed:g}×\n")
    return 0


def cmd_scenario_run(args: argparse.Namespace) -> int:
    from simulators.scenario import RunOptions, junit_xml, load_scenario

    scenarios = [load_scenario(path) for path in args.paths]
    secrets = SimulatorSecrets()
    token = args.token or (secrets.token.get_secret_value() if secrets.token else None)
    password = secrets.mqtt_password.get_secret_value() if secrets.mqtt_password else None
    options = RunOptions(broker=args.broker, speed=args.speed, drill=args.drill,
                         broker_restart=args.broker_restart,
                         mqtt_username=args.mqtt_username, mqtt_password=password,
                         device_wills=args.wills)
    results = asyncio.run(_run_all(scenarios, args.hub, token, options))
    if args.junit is not None:
        args.junit.write_bytes(junit_xml(results))
        sys.stderr.write(f"wrote {args.junit}\n")
    if any(r.error is not None and not r.outcomes for r in results):
        return 2
    return 0 if all(r.passed for r in results) else 1


async def _run_all(scenarios: Sequence[Any], hub: str, token: str | None,
                   options: Any) -> list[Any]:
    from simulators.scenario import (
        HubApi,
        ScenarioError,
        ScenarioResult,
        results_table,
        run_scenario,
    )

    results = []
    async with HubApi.connect(hub, token) as api:
        for scenario in scenarios:
            try:
                result = await run_scenario(scenario, api, options, _say(sys.stderr))
            except ScenarioError as exc:
                sys.stderr.write(f"shouwang: scenario {scenario.name}: {exc}\n")
                results.append(ScenarioResult(scenario.name, scenario.title,
                                              str(scenario.source), scenario.speed, (), 0.0,
                                              0.0, error=str(exc)))
                continue
            sys.stdout.write("\n" + results_table(result) + "\n")
            sys.stdout.flush()
            results.append(result)
    return results


# ---------------------------------------------------------------- site files


def add_site_parser(sub: Subparsers) -> argparse.ArgumentParser:
    site: argparse.ArgumentParser = sub.add_parser("site", help="site files")
    commands = site.add_subparsers(dest="site_command", required=True)
    gen = commands.add_parser("generate", help="write a realistic site file")
    gen.add_argument("--id", default="demo")
    gen.add_argument("--name", default="和苑社区")
    gen.add_argument("--grids", type=int, default=1)
    gen.add_argument("--buildings", type=int, default=2, help="per grid")
    gen.add_argument("--floors", type=int, default=6)
    gen.add_argument("--units", type=int, default=2, help="per floor")
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--detailed", action="store_true",
                     help="rooms, kitchen heat detectors, bathroom motion sensors, fall "
                          "detectors and wearables for residents, tilt sensors (what the "
                          "shipped scenarios use)")
    gen.add_argument("-o", "--output", type=Path)
    gen.set_defaults(func=cmd_site_generate)
    return site


def cmd_site_generate(args: argparse.Namespace) -> int:
    from simulators.sitegen import SiteShape, generate_site

    shape = SiteShape(site_id=args.id, name=args.name, grids=args.grids,
                      buildings_per_grid=args.buildings, floors=args.floors,
                      units_per_floor=args.units, seed=args.seed, detailed=args.detailed)
    text = yaml.safe_dump(generate_site(shape), allow_unicode=True, sort_keys=False)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        sys.stderr.write(f"wrote {args.output}\n")
    return 0


# ---------------------------------------------------------------- on its own


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulators.cli",
                                     description="Shouwang simulators and scenarios")
    parser.add_argument("--log-level", default="WARNING",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True)
    add_simulate_parser(sub)
    add_scenario_parser(sub)
    add_site_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        sys.stderr.write(f"shouwang: {exc}\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"shouwang: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
