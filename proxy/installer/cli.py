"""`installer.pyz`: `--service` as the service control manager starts it, `--once` for one check by hand."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

from .service import Checker, report_failure

STATUS_NAME = "installer-status.json"
DEFAULT_INTERVAL = 900.0  # seconds between checks


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="installer.pyz", description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--service", action="store_true", help="run as the service (started by the SCM)")
    mode.add_argument("--once", action="store_true", help="check once, print the status")
    parser.add_argument(
        "--packages", type=Path, required=True, help=r"the package folders' parent (<packages>\<version>)"
    )
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL, help="seconds between checks")
    parser.add_argument("--status", type=Path, help=f"the status file (default: {STATUS_NAME} beside installer.pyz)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    status_file = args.status or Path(sys.argv[0]).resolve().parent / STATUS_NAME
    checker = Checker(args.packages, status_file)
    if args.once:
        status = checker.once()
        print(json.dumps(status, indent=2))
        return 1 if status["drift"] or status.get("failed") or status.get("errors") else 0
    from .scm import Service  # Windows only

    Service(functools.partial(checker.run, args.interval), report_failure).run()
    return 0
