"""The command line of the lab's change commands (`lab.churn`) and of `lab stats`, on a running lab.

    lab write HOST VM [--disk N] (--ranges OFF:LEN,... | --percent P [--seed S] [--blocks])
    lab churn [--percent P] [--seed S] [--blocks]
    lab disk HOST VM [--disk N] (--resize SIZE | --replace | --migrate)
    lab move HOST VM --to NODE
    lab stats [--reset]

Each takes `--state-dir` (default build/lab) and finds the estate in the lab's `lab.json`. Offsets, lengths and
sizes are bytes or a number with K, M, G or T (`lab.estate.fields.size`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lab.churn import DiskChange, churn
from lab.control import LabError
from lab.estate.fields import EstateError, Where, size
from lab.estate.loader import Estate, load_estate
from lab.runtime import STATUS_FILE
from lab.stats import stats
from lab.windows.migration import move_vm

CHANGE_COMMANDS = ("write", "churn", "disk", "move", "stats")


def _size(value: str) -> int:
    try:
        return size(value, Where(""))
    except EstateError as exc:
        raise argparse.ArgumentTypeError(str(exc).lstrip(": ")) from exc


def _ranges(value: str) -> list[tuple[int, int]]:
    ranges = []
    for item in value.split(","):
        offset, _, length = item.partition(":")
        if not length:
            raise argparse.ArgumentTypeError(f"{item!r} is not OFFSET:LENGTH")
        ranges.append((0 if offset == "0" else _size(offset), _size(length)))
    return ranges


def _target(commands: Any, name: str, text: str, state_dir: Path) -> argparse.ArgumentParser:
    command = commands.add_parser(name, help=text)
    command.add_argument("host", help="estate name of the Hyper-V host")
    command.add_argument("vm", help="VM name")
    command.add_argument("--disk", type=int, default=0, help="the VM's disk, by position (default 0)")
    command.add_argument("--state-dir", type=Path, default=state_dir)
    return command


_BLOCKS = "with --percent: whole tracking blocks (the estate's rct_block), not 64 KiB pieces"


def add_change_commands(commands: Any, state_dir: Path) -> None:
    write = _target(commands, "write", "write random bytes into a VM's disk", state_dir)
    what = write.add_mutually_exclusive_group(required=True)
    what.add_argument("--ranges", type=_ranges, help="OFFSET:LENGTH,... of the virtual disk")
    what.add_argument("--percent", type=float, help="this share of the disk, at random places")
    write.add_argument("--seed", help="random seed (places and bytes)")
    write.add_argument("--blocks", action="store_true", help=_BLOCKS)
    every = commands.add_parser("churn", help="write into every VM's disks (the estate's churn_percent)")
    every.add_argument("--percent", type=float)
    every.add_argument("--seed")
    every.add_argument("--blocks", action="store_true", help=_BLOCKS)
    every.add_argument("--state-dir", type=Path, default=state_dir)
    disk = _target(commands, "disk", "resize, replace or storage-migrate a VM's disk", state_dir)
    change = disk.add_mutually_exclusive_group(required=True)
    change.add_argument("--resize", type=_size, help="new virtual size (larger)")
    change.add_argument("--replace", action="store_true", help="another, empty disk at the same path")
    change.add_argument("--migrate", action="store_true", help="a storage migration away and back")
    move = commands.add_parser("move", help="live-migrate a VM to another node of its cluster (lab.windows.placement)")
    move.add_argument("host", help="estate name of the Hyper-V host running the VM")
    move.add_argument("vm", help="VM name")
    move.add_argument("--to", required=True, help="estate name of another node of the host's cluster")
    move.add_argument("--state-dir", type=Path, default=state_dir)
    counted = commands.add_parser("stats", help="requests, round trips, snapshots, checkpoints per host (JSON)")
    counted.add_argument("--reset", action="store_true", help="count from now on (after printing)")
    counted.add_argument("--state-dir", type=Path, default=state_dir)


def running_estate(state_dir: Path) -> Estate:
    try:
        status = json.loads((state_dir / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LabError(f"no running lab in {state_dir} (run `lab up` first)") from exc
    if not status.get("estate"):
        raise LabError(f"the lab in {state_dir} did not record its estate (restart it with this lab)")
    return load_estate(Path(status["estate"]))


def run_change_command(arguments: argparse.Namespace, state_dir: Path) -> Any:
    if arguments.command == "stats":
        return stats(state_dir, arguments.reset)
    estate = running_estate(state_dir)
    if arguments.command == "churn":
        return churn(estate, state_dir, arguments.percent, arguments.seed, arguments.blocks)
    if arguments.command == "move":
        return move_vm(estate.model, state_dir, arguments.host, arguments.vm, arguments.to)
    target = DiskChange(estate, state_dir, arguments.host, arguments.vm, arguments.disk)
    if arguments.command == "write":
        return target.write(arguments.ranges, arguments.percent, arguments.seed, arguments.blocks)
    return target.change(arguments.resize, arguments.replace, arguments.migrate)
