"""Helpers shared by the lab's tests (a module with a unique name: `conftest` is not importable
reliably when several test trees have one)."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parents[2]
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from lab.requestlog import read_log  # noqa: E402 - after tests/ is on sys.path

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
