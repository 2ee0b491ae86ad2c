"""`lab up` / `lab down` / `lab status`: the lab as a background process.

`up` starts `python -m lab serve` detached (its own session, output in `lab.log`), records
its pid in `lab.pid`, waits until it has written `lab.json` and every host's port accepts
connections, then writes `inventory.yml`. `down` sends SIGTERM, waits for the process to end
and checks that no port still accepts. `fault` tells a running host to drop its next requests.
Everything lives in the state directory.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from lab.estate.loader import Estate, load_estate
from lab.runtime import STATUS_FILE
from lab.wire.server import FAULT_FILE, write_fault

PID_FILE = "lab.pid"
PROCESS_LOG = "lab.log"
INVENTORY_FILE = "inventory.yml"
TESTS_DIR = Path(__file__).resolve().parents[1]


class LabError(RuntimeError):
    """The lab could not be started or stopped."""


def _pid(state_dir: Path) -> int | None:
    try:
        return int((state_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def process_running(pid: int) -> bool:
    """True while `pid` runs; an exited process not yet reaped (a zombie) has ended already."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _accepts(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((address, port)) == 0


def _wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait on a pidfd (no polling); True when the process has ended."""
    try:
        descriptor = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([descriptor], [], [], timeout)
        return bool(readable)
    finally:
        os.close(descriptor)


def read_status(state_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((state_dir / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


AUTH_VARIABLES = {
    "basic": {
        "ansible_winrm_transport": "basic",
        "ansible_psrp_auth": "basic",
        # pypsrp refuses basic auth over http unless message encryption is off.
        "ansible_psrp_message_encryption": "never",
    },
    # What production inventories use over HTTP: NTLM, every message encrypted.
    "ntlm": {
        "ansible_winrm_transport": "ntlm",
        "ansible_psrp_auth": "negotiate",
        "ansible_psrp_message_encryption": "auto",
    },
}


def inventory(estate: Estate, status: dict[str, Any], auth: str = "basic") -> dict[str, Any]:
    """An Ansible inventory for the estate: lab addresses, ports and credentials; real plugins."""
    hosts = {}
    for host in estate.hosts:
        hosts[host.name] = {
            "ansible_host": host.address,
            "ansible_port": status["hosts"][host.name]["port"],
            "ansible_user": host.username,
            "ansible_password": host.password,
            "ansible_connection": host.connection,
            "ansible_shell_type": "powershell",
            "ansible_winrm_scheme": "http",
            "ansible_psrp_protocol": "http",
            **AUTH_VARIABLES[auth],
        }
    groups = {name: {"hosts": {member: None for member in members}} for name, members in estate.groups().items()}
    return {"all": {"children": {"windows": {"hosts": hosts}, **groups}}}  # groups by role: playbooks/preflight.yml


def _serve_command(
    estate_path: Path,
    state_dir: Path,
    port: int,
    script_dirs: tuple[Path, ...],
    handler_files: tuple[Path, ...],
    ready_fd: int,
) -> list[str]:
    """`python -m lab serve ...`: what `up` starts in the background."""
    command = [sys.executable, "-m", "lab", "serve", str(estate_path), "--state-dir", str(state_dir)]
    command += ["--port", str(port)]
    for directory in script_dirs:
        command += ["--scripts-dir", str(directory)]
    for path in handler_files:
        command += ["--handlers", str(path)]
    return [*command, "--ready-fd", str(ready_fd)]


def up(
    estate_path: Path,
    state_dir: Path,
    port: int = 5985,
    script_dirs: tuple[Path, ...] = (),
    handler_files: tuple[Path, ...] = (),
    timeout: float = 20.0,
    auth: str = "basic",
) -> dict[str, Any]:
    """Start the lab in the background; returns its status once every port accepts."""
    estate = load_estate(estate_path)
    state_dir.mkdir(parents=True, exist_ok=True)
    pid = _pid(state_dir)
    if pid is not None and process_running(pid):
        raise LabError(f"a lab is already running from {state_dir} (pid {pid}); run `lab down` first")
    (state_dir / STATUS_FILE).unlink(missing_ok=True)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")])}
    reader, writer = os.pipe()  # the server writes its status line here once every port is bound
    command = _serve_command(estate_path, state_dir, port, script_dirs, handler_files, writer)
    try:
        with open(state_dir / PROCESS_LOG, "ab") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=environment,
                start_new_session=True,
                pass_fds=(writer,),
            )
        os.close(writer)
        (state_dir / PID_FILE).write_text(f"{process.pid}\n")
        status = _wait_until_ready(process, reader, state_dir, timeout)
    finally:
        os.close(reader)
    (state_dir / INVENTORY_FILE).write_text(yaml.safe_dump(inventory(estate, status, auth), sort_keys=False))
    return status


def _wait_until_ready(process: subprocess.Popen, reader: int, state_dir: Path, timeout: float) -> dict[str, Any]:
    """Block on the ready pipe: a status line means ready, end of file means the server died."""
    readable, _, _ = select.select([reader], [], [], timeout)
    line = os.read(reader, 65536) if readable else b""
    if line.strip():
        return json.loads(line)
    if not readable:
        down(state_dir)
        raise LabError(f"the lab did not get ready within {timeout:.0f} s")
    process.wait(timeout)
    (state_dir / PID_FILE).unlink(missing_ok=True)
    tail = (state_dir / PROCESS_LOG).read_text(errors="replace")[-2000:]
    raise LabError(f"the lab exited with {process.returncode} while starting:\n{tail}")


def down(state_dir: Path, timeout: float = 15.0) -> bool:
    """Stop the lab; True if one was running. Raises LabError if it will not go away."""
    pid = _pid(state_dir)
    status = read_status(state_dir)
    was_running = pid is not None and process_running(pid)
    if was_running:
        os.kill(pid, signal.SIGTERM)
        if not _wait_for_exit(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            _wait_for_exit(pid, 5.0)
    if status:
        still_open = [
            f"{h['address']}:{h['port']}" for h in status["hosts"].values() if _accepts(h["address"], h["port"])
        ]
        if still_open:
            raise LabError(f"ports still accept connections after the lab stopped: {', '.join(still_open)}")
    for name in (PID_FILE, STATUS_FILE):
        (state_dir / name).unlink(missing_ok=True)
    return was_running


def status(state_dir: Path) -> dict[str, Any]:
    """Whether the lab of `state_dir` runs, its pid and hosts."""
    pid = _pid(state_dir)
    if pid is None or not process_running(pid):
        return {"running": False, "pid": None, "hosts": {}}
    return {"running": True, "pid": pid, "hosts": (read_status(state_dir) or {}).get("hosts", {})}


def set_fault(state_dir: Path, host: str, drop: int, operation: str | None = None) -> dict[str, Any]:
    """Make the running lab's `host` close the connection of its next `drop` requests (of `operation` only)."""
    hosts = status(state_dir)["hosts"]
    if host not in hosts:
        raise LabError(f"no running lab host {host!r} in {state_dir} (hosts: {', '.join(sorted(hosts)) or 'none'})")
    if drop < 0:
        raise LabError("--drop must be 0 (clear the fault) or more")
    write_fault(state_dir / "hosts" / host / FAULT_FILE, drop, operation)
    return {"host": host, "drop": drop, "operation": operation}
