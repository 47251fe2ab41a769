"""The `shouwang` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from devices.yamlsource import ConfigError
from hub.delivery.receivers import ReceiverError

logger = logging.getLogger("shouwang")


def _broker(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{url!r}: expected mqtt://host:port")
    return parts.hostname, parts.port or 1883


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    # amqtt logs every packet at INFO; a newcomer's terminal should show the hub's story.
    logging.getLogger("amqtt").setLevel(logging.WARNING)
    logging.getLogger("transitions").setLevel(logging.WARNING)


async def _run(config_path: Path, http_host: str | None, http_port: int | None) -> None:
    from hub.config import load_config
    from hub.server import serve
    from hub.service import Hub

    config = load_config(config_path)
    logging.getLogger().setLevel(config.spec.log_level)
    http = config.spec.http
    async with Hub(config) as hub:
        host, port = http_host or http.host, http_port if http_port is not None else http.port
        logger.info("HTTP API on http://%s:%s/ (docs at /docs)", host, port)
        await serve(hub, host, port)


def _cmd_run(args: argparse.Namespace) -> int:
    asyncio.run(_run(args.config, args.http_host, args.http_port))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from hub.demo import DemoOptions, run_demo

    options = DemoOptions(http_port=args.http_port, mqtt_port=args.mqtt_port,
                          broker=args.broker, data_dir=args.data)
    asyncio.run(run_demo(options))
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from devices.site import load_site
    from simulators.run import simulate

    site = load_site(args.site.read_text(encoding="utf-8"), str(args.site))
    host, port = args.broker
    asyncio.run(simulate(site, host, port, interval_scale=args.interval_scale,
                         duration_s=args.duration))
    return 0


def _cmd_site_generate(args: argparse.Namespace) -> int:
    from simulators.sitegen import SiteShape, generate_site

    shape = SiteShape(site_id=args.id, name=args.name, grids=args.grids,
                      buildings_per_grid=args.buildings, floors=args.floors,
                      units_per_floor=args.units, seed=args.seed)
    text = yaml.safe_dump(generate_site(shape), allow_unicode=True, sort_keys=False)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _cmd_rules_check(args: argparse.Namespace) -> int:
    from rules.schema import check_unique, load_pack

    rules = []
    for path in args.paths:
        pack = load_pack(path.read_text(encoding="utf-8"), str(path))
        print(f"{path}: {len(pack)} rule(s) OK")
        rules.extend(pack)
    check_unique(rules)
    return 0


def _cmd_rules_replay(args: argparse.Namespace) -> int:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from devices.site import load_site
    from hub.config import BUILTIN_PACKS, load_rules
    from rules.replay import ReplayError, parse_readings, replay

    site = load_site(args.site.read_text(encoding="utf-8"), str(args.site))
    rules = load_rules([str(p) for p in args.packs] or list(BUILTIN_PACKS), Path.cwd())
    try:
        with args.readings.open(encoding="utf-8") as lines:
            alerts = replay(site, rules, list(parse_readings(lines, site, str(args.readings))))
    except ReplayError as exc:
        print(f"shouwang: {exc}", file=sys.stderr)
        return 2
    zone = ZoneInfo(site.timezone)
    print(f"{'time (' + site.timezone + ')':<27}{'':7}{'rule':<26}{'severity':<10}"
          f"{'subject':<20}{'device':<22}value")
    for a in alerts:
        when = datetime.fromtimestamp(a.ts, zone).isoformat(timespec="seconds")
        value = "" if a.value is None else f"{a.value:g}"
        print(f"{when:<27}{a.action.upper():<7}{a.rule_id:<26}{a.severity:<10}"
              f"{a.subject:<20}{a.device:<22}{value}")
    raised = sum(1 for a in alerts if a.action == "raise")
    print(f"\n{raised} raised, {len(alerts) - raised} cleared, from {len(rules)} rules")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shouwang",
                                     description="守望 Shouwang — community emergency hub")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the hub against the broker and store in the config")
    run.add_argument("--config", type=Path, required=True, help="hub config YAML")
    run.add_argument("--http-host", help="override http.host of the config")
    run.add_argument("--http-port", type=int, help="override http.port of the config")
    run.set_defaults(func=_cmd_run)

    demo = sub.add_parser("demo", help="broker + hub + simulated community + duty board")
    demo.add_argument("--mqtt-port", type=int, default=1883, help="embedded broker port")
    demo.add_argument("--http-port", type=int, default=8080)
    demo.add_argument("--broker", type=_broker, help="use this broker (mqtt://host:port) "
                      "instead of the embedded one")
    demo.add_argument("--data", type=Path, default=Path("shouwang-demo"),
                      help="where the demo writes its site, config and data")
    demo.set_defaults(func=_cmd_demo)

    sim = sub.add_parser("simulate", help="publish a site's devices to a broker")
    sim.add_argument("--site", type=Path, required=True, help="site YAML (or hub config)")
    sim.add_argument("--broker", type=_broker, default=("127.0.0.1", 1883),
                     help="mqtt://host:port (default mqtt://127.0.0.1:1883)")
    sim.add_argument("--interval-scale", type=float, default=1.0,
                     help="multiply every report interval (0.01 = 100x faster)")
    sim.add_argument("--duration", type=float, default=None, help="seconds, default forever")
    sim.set_defaults(func=_cmd_simulate)

    site = sub.add_parser("site", help="site files").add_subparsers(dest="site_command",
                                                                    required=True)
    gen = site.add_parser("generate", help="write a realistic site file")
    gen.add_argument("--id", default="demo")
    gen.add_argument("--name", default="和苑社区")
    gen.add_argument("--grids", type=int, default=1)
    gen.add_argument("--buildings", type=int, default=2, help="per grid")
    gen.add_argument("--floors", type=int, default=6)
    gen.add_argument("--units", type=int, default=2, help="per floor")
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("-o", "--output", type=Path)
    gen.set_defaults(func=_cmd_site_generate)

    rules = sub.add_parser("rules", help="rule packs").add_subparsers(dest="rules_command",
                                                                      required=True)
    check = rules.add_parser("check", help="validate rule pack files")
    check.add_argument("paths", type=Path, nargs="+")
    check.set_defaults(func=_cmd_rules_check)
    rp = rules.add_parser("replay", help="run recorded readings through rules, list alerts")
    rp.add_argument("packs", type=Path, nargs="*",
                    help="rule pack files (default: every shipped pack)")
    rp.add_argument("--site", type=Path, required=True, help="site YAML")
    rp.add_argument("--readings", type=Path, required=True,
                    help="JSON lines: {ts, device, <metric>: value | event | availability}")
    rp.set_defaults(func=_cmd_rules_replay)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"shouwang: {exc}", file=sys.stderr)
        return 2
    except ReceiverError as exc:
        print(f"shouwang: delivery: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"shouwang: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
