"""Command line of the lab: `PYTHONPATH=tests python -m lab {up,down,status,serve,fault,write,churn,disk,stats}`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lab import control
from lab.checkout import REPO_ROOT
from lab.churn import ChurnError
from lab.commands import CHANGE_COMMANDS, add_change_commands, run_change_command
from lab.context import SCRIPTS_DIR, LabConfig
from lab.estate.fields import EstateError
from lab.estate.loader import load_estate
from lab.windows.migration import MoveError
from lab.windows.vmdisk import DiskWriteError

DEFAULT_STATE_DIR = REPO_ROOT / "build" / "lab"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lab", description="WS-Management emulator of Windows hosts (tests only)")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("up", "start the lab in the background"), ("serve", "run the lab in the foreground")):
        command = commands.add_parser(name, help=text)
        command.add_argument("estate", type=Path, help="estate YAML file")
        command.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
        command.add_argument("--port", type=int, default=5985, help="port on every host address; 0: ephemeral")
        command.add_argument(
            "--scripts-dir",
            type=Path,
            action="append",
            default=[],
            help="another directory of recognised collection scripts (repeatable)",
        )
        command.add_argument(
            "--handlers",
            type=Path,
            action="append",
            default=[],
            help="a Python file defining register(registry) (repeatable)",
        )
        command.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)  # set by `up` for `serve`
        if name == "up":
            command.add_argument(
                "--auth",
                choices=sorted(control.AUTH_VARIABLES),
                default="basic",
                help="authentication the written inventory asks for (the lab accepts both)",
            )
    for name, text in (("down", "stop the lab"), ("status", "print the lab's status as JSON")):
        commands.add_parser(name, help=text).add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    fault = commands.add_parser("fault", help="drop a running host's next requests (close without an answer)")
    fault.add_argument("host", help="estate name of the host")
    fault.add_argument("--drop", type=int, required=True, help="how many requests to drop; 0 clears the fault")
    fault.add_argument("--operation", help="drop only this operation (Create, Command, Send, Receive, ...)")
    fault.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    add_change_commands(commands, DEFAULT_STATE_DIR)
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    state_dir = arguments.state_dir.resolve()
    try:
        if arguments.command == "up":
            result = control.up(
                arguments.estate.resolve(),
                state_dir,
                arguments.port,
                tuple(p.resolve() for p in arguments.scripts_dir),
                tuple(p.resolve() for p in arguments.handlers),
                auth=arguments.auth,
            )
            print(json.dumps({"inventory": str(state_dir / control.INVENTORY_FILE), **result}, indent=2))
        elif arguments.command == "serve":
            from lab.runtime import serve

            config = LabConfig(
                estate=load_estate(arguments.estate),
                state_dir=state_dir,
                script_dirs=(SCRIPTS_DIR, *arguments.scripts_dir),
                port=arguments.port,
                estate_path=arguments.estate.resolve(),
            )
            serve(config, tuple(arguments.handlers), arguments.ready_fd)
        elif arguments.command == "fault":
            print(json.dumps(control.set_fault(state_dir, arguments.host, arguments.drop, arguments.operation)))
        elif arguments.command in CHANGE_COMMANDS:
            print(json.dumps(run_change_command(arguments, state_dir), indent=2))
        elif arguments.command == "down":
            print("stopped" if control.down(state_dir) else "not running")
        else:
            report = control.status(state_dir)
            print(json.dumps(report, indent=2))
            return 0 if report["running"] else 3
    except (control.LabError, EstateError, OSError, ChurnError, DiskWriteError, MoveError) as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
