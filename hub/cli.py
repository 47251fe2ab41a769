"""The `shouwang` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from urllib.parse import urlsplit

from devices.yamlsource import ConfigError
from hub.auth.cli import add_user_commands
from hub.delivery.receivers import ReceiverError
from simulators.cli import add_scenario_parser, add_simulate_parser, add_site_parser

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


def _cmd_bridge_config(args: argparse.Namespace) -> int:
    import os

    from hub.bridge import bridge_config
    from hub.config import CentreLinkConfig, load_config

    config = load_config(args.config)
    federation = config.spec.federation
    centre = federation.centre if federation is not None else None
    if args.centre is not None:
        host, port = args.centre
        centre = (centre.model_copy(update={"host": host, "port": port}) if centre is not None
                  else CentreLinkConfig(host=host, port=port))
    if centre is None:
        print(f"shouwang: {args.config}: no federation.centre in the config; give the "
              "centre's broker with --centre mqtt://host:port", file=sys.stderr)
        return 2
    if args.name is not None:
        centre = centre.model_copy(update={"name": args.name})
    text = bridge_config(config.site.id, centre,
                         password=os.environ.get("SHOUWANG_BRIDGE_PASSWORD"))
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


async def _run_centre(config_path: Path, http_host: str | None, http_port: int | None) -> None:
    from hub.centre.api import serve_centre
    from hub.centre.config import load_centre_config
    from hub.centre.service import Centre

    config = load_centre_config(config_path)
    logging.getLogger().setLevel(config.spec.log_level)
    http = config.spec.http
    async with Centre(config) as centre:
        host, port = http_host or http.host, http_port if http_port is not None else http.port
        logger.info("command centre %s on http://%s:%s/", centre.name, host, port)
        await serve_centre(centre, host, port)


def _cmd_command_centre(args: argparse.Namespace) -> int:
    asyncio.run(_run_centre(args.config, args.http_host, args.http_port))
    return 0


def _add_federation_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]
                             ) -> None:
    bridge = sub.add_parser("bridge-config",
                            help="print the mosquitto bridge config linking this community to "
                                 "its command centre")
    bridge.add_argument("--config", type=Path, required=True, help="hub config YAML")
    bridge.add_argument("--centre", type=_broker, help="the centre's broker, mqtt://host:port "
                        "(default: federation.centre of the config)")
    bridge.add_argument("--name", help="the centre's name in the connection (default: "
                        "federation.centre.name, or `centre`)")
    bridge.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    bridge.set_defaults(func=_cmd_bridge_config)

    centre = sub.add_parser("command-centre",
                            help="run a sub-district / city command centre over many "
                                 "communities")
    centre.add_argument("--config", type=Path, required=True, help="centre config YAML")
    centre.add_argument("--http-host", help="override http.host of the config")
    centre.add_argument("--http-port", type=int, help="override http.port of the config")
    centre.set_defaults(func=_cmd_command_centre)


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

    add_simulate_parser(sub)
    add_scenario_parser(sub)
    add_site_parser(sub)

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

    _add_federation_commands(sub)
    add_user_commands(sub)
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
