"""Helpers shared by the lab's tests (a module with a unique name: `conftest` is not importable
reliably when several test trees have one)."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parents[2]
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from lab.wire.requestlog import read_log  # noqa: E402 - after tests/ is on sys.path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
PASSWORDS = {"hv1": "Lab-Passw0rd!", "px1": "Proxy-Passw0rd!"}
USERS = {"hv1": "Administrator", "px1": "LabAdmin"}


def run_lab(*arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`python -m lab ...` as a user runs it."""
    environment = {**os.environ, "PYTHONPATH": str(TESTS_DIR)}
    return subprocess.run(
        [sys.executable, "-m", "lab", *arguments],
        capture_output=True,
        text=True,
        env=environment,
        check=check,
        timeout=60,
    )


def accepts(address: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((address, port)) == 0


@dataclass
class RunningLab:
    state_dir: Path
    status: dict[str, Any]

    @property
    def inventory(self) -> Path:
        return self.state_dir / "inventory.yml"

    def address(self, host: str) -> tuple[str, int]:
        entry = self.status["hosts"][host]
        return entry["address"], entry["port"]

    def endpoint(self, host: str) -> str:
        address, port = self.address(host)
        return f"http://{address}:{port}/wsman"

    def log(self, host: str | None = None) -> list[dict[str, Any]]:
        records = read_log(self.state_dir / "requests.jsonl")
        return [record for record in records if host is None or record["host"] == host]

    def host_file(self, host: str, *parts: str) -> Path:
        return self.state_dir.joinpath("hosts", host, "fs", *parts)


def collection_request(name: str, params: dict[str, Any], body: bytes | None = None) -> bytes:
    """The stdin line `_pwsh.py` sends, for a test script in data/ (or `body` instead of its text)."""
    script = body if body is not None else (DATA / f"{name}.ps1").read_bytes()
    request = {"name": name, "script": base64.b64encode(script).decode(), "params": params}
    return json.dumps(request, separators=(",", ":")).encode() + b"\n"


ESTATES = TESTS_DIR / "lab" / "estates"


@contextmanager
def estate_lab(estate: Path, state_dir: Path) -> Iterator[RunningLab]:
    """A lab of `estate` on ephemeral ports for the duration of the block; checks nothing is left behind."""
    status = json.loads(run_lab("up", str(estate), "--state-dir", str(state_dir), "--port", "0").stdout)
    try:
        yield RunningLab(state_dir, status)
    finally:
        run_lab("down", "--state-dir", str(state_dir))
        assert not any(accepts(entry["address"], entry["port"]) for entry in status["hosts"].values())


def ansible_environment(work_dir: Path) -> dict[str, str]:
    """Ansible run against the checkout as the collection `backup.hyperv`, its temp files under `work_dir`."""
    return {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(TESTS_DIR.parent / "build" / "collections"),
        "ANSIBLE_LOCAL_TEMP": str(work_dir / "ansible-local"),
        "ANSIBLE_HOST_KEY_CHECKING": "0",
        "ANSIBLE_NOCOLOR": "1",
    }


def ansible_adhoc(lab: RunningLab, work_dir: Path, pattern: str, *arguments: str) -> dict[str, dict[str, Any]]:
    """`ansible PATTERN -m ...` against the lab; each host's result as the tree callback saved it."""
    tree = work_dir / "tree"
    if tree.exists():
        for old in tree.iterdir():
            old.unlink()
    environment = {
        **ansible_environment(work_dir),
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.builtin.tree",
        "ANSIBLE_CALLBACK_TREE_DIR": str(tree),
    }
    command = [str(Path(sys.executable).with_name("ansible")), pattern, "-i", str(lab.inventory), *arguments]
    subprocess.run(command, capture_output=True, env=environment, timeout=120, check=False)
    return {path.name: json.loads(path.read_text()) for path in tree.iterdir()} if tree.exists() else {}


def handled_since(lab: RunningLab, host: str, since: int) -> list[str]:
    """`handled_by` of the host's requests after its first `since` log records (one per round trip)."""
    return [record["handled_by"] for record in lab.log(host)[since:] if record.get("handled_by")]


def adhoc_round_trips(
    lab: RunningLab, work_dir: Path, hosts: tuple[str, ...], pattern: str, *arguments: str
) -> dict[str, dict[str, Any]]:
    """`ansible_adhoc` on `hosts` (all must answer); each result with the round trips it made as `_round_trips`."""
    before = {host: len(lab.log(host)) for host in hosts}
    results = ansible_adhoc(lab, work_dir, pattern, *arguments)
    assert sorted(results) == sorted(hosts), results
    for host in hosts:
        results[host]["_round_trips"] = handled_since(lab, host, before[host])
    return results


class ProvisionedLab:
    """An estate provisioned under `state_dir` as `lab up` does, without servers: handlers called in-process."""

    def __init__(self, estate: Any, state_dir: Path) -> None:
        from lab.context import HostContext, LabConfig
        from lab.handlers.builtin import default_registry

        self.estate = estate
        self.state_dir = state_dir
        self.registry = default_registry()
        config = LabConfig(estate=estate, state_dir=state_dir)
        self.contexts = {host.name: HostContext(config, host, self.registry) for host in estate.hosts}
        for context in self.contexts.values():
            context.prepare()

    def call(self, host: str, script: str, params: dict[str, Any]) -> Any:
        """The handler's reply (raises ScriptFailure as the script would fail)."""
        from lab.context import SCRIPTS_DIR
        from lab.handlers import ScriptCall
        from lab.handlers.binding import bound_call

        context = self.contexts[host]
        call = ScriptCall(context.host, self.estate, script, params, context.state_dir, context.files)
        source = SCRIPTS_DIR / f"{script}.ps1"  # bound as PowerShell binds them, when the script is the collection's
        return self.registry.get(script)(bound_call(call, source.read_text()) if source.exists() else call)

    def host_file(self, host: str, windows_path: str) -> Path:
        return self.contexts[host].files.local_path(windows_path)
