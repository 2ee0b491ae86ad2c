"""What an emulated Windows host has installed and configured, kept as JSON in its state directory.

One document per host (`state/windows.json`): features, services, component records (each the values of
`HKLM:\\SOFTWARE\\backup.hyperv\\Components\\<name>` by name: Version, Role, Destination, ...),
VSS provider registrations and their configuration records, installed products (the Uninstall
keys), firewall rules, dedup volumes and exposed shadow copies. Handlers read it, and the apply
handlers change it, so a second run sees the first run's changes. The lab serves requests on
threads: every change holds the host's lock and is written atomically.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STATE_FILE = "windows.json"
_LOCKS: dict[Path, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def empty_state() -> dict[str, Any]:
    return {
        "features": {},
        "services": {},
        "components": {},
        "vss_configurations": {},
        "products": {},
        "providers": [],
        "firewall": {},
        "dedup_volumes": [],
        "shadow_copies": {},
    }


def _lock(path: Path) -> threading.RLock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path, threading.RLock())


class HostState:
    """The state document of one host (`state_dir` is the host's `state/` directory)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / STATE_FILE

    def exists(self) -> bool:
        return self.path.is_file()

    def read(self) -> dict[str, Any]:
        with _lock(self.path):
            if not self.path.is_file():
                return empty_state()
            return {**empty_state(), **json.loads(self.path.read_text(encoding="utf-8"))}

    def write(self, document: dict[str, Any]) -> None:
        with _lock(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(document, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(temporary, self.path)

    @contextmanager
    def edit(self) -> Iterator[dict[str, Any]]:
        """Read, let the caller change, write back; nothing is written when the caller raises. The lab's control
        commands (`lab write`, `lab disk`) edit from another process: a file lock orders them with the server."""
        with _lock(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path.with_suffix(".lock"), "a") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)  # released when the file closes
                document = self.read()
                yield document
                self.write(document)


def counters_file(state_dir: Path) -> Path:
    """Where the lab counts a host's events (`lab stats`): `<lab>/stats/<host>.json`, beside the hosts, not in the
    state document, which holds only what Windows would (`state_dir` is `<lab>/hosts/<host>/state`)."""
    return state_dir.parents[2] / "stats" / f"{state_dir.parent.name}.json"


def read_counters(state_dir: Path) -> dict[str, int]:
    path = counters_file(state_dir)
    with _lock(path):
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def count(state_dir: Path, event: str, by: int = 1) -> None:
    """Count an event of the host: shadow copy sets created, imports, checkpoints, data mover jobs... The lab's
    control commands read them from another process: a file lock orders the writers as for the state."""
    path = counters_file(state_dir)
    with _lock(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)  # released when the file closes
            counters = read_counters(state_dir)
            counters[event] = counters.get(event, 0) + by
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(counters, sort_keys=True), encoding="utf-8")
            os.replace(temporary, path)


def service_entry(state: dict[str, Any], name: str) -> dict[str, Any] | None:
    """A service by name, case-blind (Windows service names are)."""
    return state["services"].get(name.lower())
