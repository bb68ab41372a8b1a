"""The ``helpline`` command: run the gateway, check settings, add users.

Exit status: 0 done, 1 a fault at run time (Redis unreachable, ...), 2 a
mistake in the command line, the settings or the input; 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO, cast

from gateway.accounts import (
    AccountError,
    Accounts,
    Role,
    check_password,
    check_skills,
    check_username,
)
from gateway.config import (
    CONFIG_ENV,
    SETTINGS_HELP,
    SPECS,
    Settings,
    load_settings,
    masked_values,
    unknown_env,
)
from gateway.logs import setup_logging
from gateway.store import open_store
from signaling.errors import ConfigError, HelplineError

logger = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]


def _common(with_listen: bool) -> argparse.ArgumentParser:
    """Options shared by the subcommands that read the settings."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help=f"TOML settings file (default: ${CONFIG_ENV}, else none)",
    )
    common.add_argument(
        "--data-dir", metavar="DIR", help="folder for Helpline's files (data_dir)"
    )
    if with_listen:
        common.add_argument("--http", metavar="HOST:PORT", help="web listen address")
        common.add_argument("--sip", metavar="HOST:PORT", help="SIP listen address")
        common.add_argument("--workers", metavar="N", help="web worker processes")
        common.add_argument(
            "--sip-workers", metavar="N", help="media worker processes (SIP)"
        )
    return common


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="helpline",
        description="Helpline: FAQ, IVR and live WebRTC agents, toll-free last.",
        epilog=SETTINGS_HELP,
        formatter_class=formatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    listen = _common(with_listen=True)
    run = commands.add_parser(
        "run",
        parents=[listen],
        help="run the gateway in the foreground",
        description="Run Helpline until interrupted (Ctrl-C or SIGTERM).",
        epilog=SETTINGS_HELP,
        formatter_class=formatter,
    )
    run.set_defaults(handler=_run)
    check = commands.add_parser(
        "check-config",
        parents=[listen],
        help="print the settings in effect, secrets masked",
        description="Load the settings as `run` would and print them; "
        "exit 0 when they are valid, 2 when not.",
        epilog=SETTINGS_HELP,
        formatter_class=formatter,
    )
    check.set_defaults(handler=_check_config)
    _add_user_parser(commands)
    return parser


def _add_user_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    add = commands.add_parser(
        "add-user",
        parents=[_common(with_listen=False)],
        help="create an agent or operator, or set a new password",
        description="Create a user in the configured Redis (embedded or "
        "external), or set a new password, role and name for an existing one; "
        "a new password signs the user out everywhere.",
    )
    add.add_argument("username", metavar="USERNAME")
    add.add_argument("--role", required=True, choices=["agent", "operator"])
    add.add_argument("--name", help="name shown to callers (default: USERNAME)")
    add.add_argument(
        "--skills",
        default="",
        metavar="SKILL,...",
        help="queue skills an agent takes calls for, comma-separated "
        "(e.g. billing,returns); none: calls of every skill",
    )
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    add.set_defaults(handler=_add_user)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = cast(Handler | None, getattr(args, "handler", None))
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return handler(args)
    except (ConfigError, AccountError) as err:
        _complain(err)
        return 2
    except HelplineError as err:
        _complain(err)
        return 1
    except KeyboardInterrupt:
        return 130


def _complain(err: Exception) -> None:
    print(f"helpline: error: {err}", file=sys.stderr)


def _settings(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    config = args.config or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    names = ("data_dir", "http", "sip", "workers", "sip_workers")
    overrides = {name: getattr(args, name, None) for name in names}
    return load_settings(config, env, overrides)


def _run(args: argparse.Namespace) -> int:
    settings = _settings(args, os.environ)
    setup_logging(settings.log_level, settings.log_format, digits=settings.log_digits)
    for note in unknown_env(os.environ):
        logger.warning("%s", note)
    from gateway.app import serve  # the web stack loads only for `run`

    serve(settings)
    return 0


def _check_config(args: argparse.Namespace) -> int:
    settings = _settings(args, os.environ)
    from gateway.prompts import check_voice

    check_voice(settings.tts_voice)
    config = args.config or os.environ.get(CONFIG_ENV) or "none"
    print(f"config file: {config}")
    values = masked_values(settings)
    key_width = max(len(key) for key in values)
    value_width = min(40, max(len(text) for text in values.values()))
    for spec in SPECS:
        source = settings.sources.get(spec.name, "default")
        text = values[spec.toml]
        print(f"{spec.toml:<{key_width}}  {text:<{value_width}}  ({source})")
    for note in unknown_env(os.environ):
        print(f"note: {note}", file=sys.stderr)
    return 0


def _add_user(args: argparse.Namespace) -> int:
    settings = _settings(args, os.environ)
    check_username(args.username)
    password = _read_password(args.password_stdin, sys.stdin)
    check_password(password)
    setup_logging("WARNING", settings.log_format)
    role = cast(Role, args.role)
    skills = tuple(s.strip() for s in args.skills.split(",") if s.strip())
    check_skills(skills)
    user = (args.username, password, role, args.name, skills)
    asyncio.run(_save_user(settings, *user))
    print(f"user {args.username} ({role}) saved")
    return 0


async def _save_user(
    settings: Settings,
    username: str,
    password: str,
    role: Role,
    name: str | None,
    skills: tuple[str, ...],
) -> None:
    store = await open_store(settings)
    try:
        await Accounts(store).add_user(username, password, role, name, skills=skills)
    finally:
        await store.close()


def _read_password(from_stdin: bool, stdin: TextIO) -> str:
    """The first line of stdin, or the same password typed twice."""
    if from_stdin:
        password = stdin.readline().removesuffix("\n").removesuffix("\r")
        if not password:
            raise AccountError("no password on standard input")
        return password
    if not sys.stdin.isatty():
        raise AccountError(
            "no terminal to ask for the password on; pipe it in with --password-stdin"
        )
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise AccountError("the two passwords differ")
    return first
