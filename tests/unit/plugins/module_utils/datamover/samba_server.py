"""A Samba server of the test's own: ``smbd`` from Debian's ``samba`` package (bindep.txt, test profile) on
loopback, on a free port, with its own smb.conf and state in a temporary folder (no system service).

``samba_share`` yields how to reach the share: mounted with ``mount -t cifs`` where the machine allows it (root,
a kernel with cifs), else through smbprotocol (``SmbLockFiles``). Missing ``smbd`` is a failure, not a skip.
"""

from __future__ import annotations

import contextlib
import getpass
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from smb_lock_files import SmbLockFiles

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock_files import LOCAL_FILES, LockFiles

SHARE = "share"
PASSWORD = "lock-test-Passw0rd"
# smb.conf(5): everything under one folder, loopback only, SMB3 only, no printing and no NetBIOS.
_CONF = """[global]
  server role = standalone server
  interfaces = lo
  bind interfaces only = yes
  smb ports = {port}
  disable netbios = yes
  server min protocol = SMB3
  pid directory = {state}
  lock directory = {state}
  state directory = {state}
  cache directory = {state}
  private dir = {state}
  ncalrpc dir = {state}/ncalrpc
  passdb backend = tdbsam:{state}/passdb.tdb
  log file = {state}/log.smbd
  load printers = no
  printcap name = /dev/null
  disable spoolss = yes
[{share}]
  path = {folder}
  read only = no
"""


@dataclass
class Share:
    files: LockFiles
    root: str  # the share's root as ``files`` names it (a UNC path, or the mount point)
    folder: Path  # the folder smbd serves, for reading results behind the server's back
    transport: str  # "cifs mount" or "smbprotocol"
    smb_spec: Optional[str]  # for lock_process.py --smb, None when mounted
    unc: str = ""  # the share's UNC path, \\127.0.0.1\share, reached through smbprotocol with the two below
    port: int = 0
    user: str = ""

    def path(self, *parts: str) -> str:
        result = self.root
        for part in parts:
            result = self.files.join(result, part)
        return result


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"smbd exited with {server.returncode}: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"smbd did not listen on port {port} within 15 s")


def _try_mount(port: int, user: str, mount_point: Path) -> bool:
    if not shutil.which("mount.cifs"):
        return False
    options = f"port={port},username={user},password={PASSWORD},vers=3.0,cache=none,actimeo=0"
    done = subprocess.run(
        ["mount", "-t", "cifs", f"//127.0.0.1/{SHARE}", str(mount_point), "-o", options],
        capture_output=True,
        timeout=20,
        check=False,
    )
    return done.returncode == 0


@contextlib.contextmanager
def samba_share(tmp: Path) -> Iterator[Share]:
    smbd = shutil.which("smbd") or "/usr/sbin/smbd"
    assert Path(smbd).exists(), "smbd is missing: install Debian's samba (tools/install_system_deps.sh test)"
    state, folder, mount_point = tmp / "samba-state", tmp / "shared", tmp / "mnt"
    for made in (state, folder, mount_point):
        made.mkdir()
    port, user = _free_port(), getpass.getuser()
    conf = state / "smb.conf"
    conf.write_text(_CONF.format(port=port, state=state, share=SHARE, folder=folder))
    subprocess.run(
        ["smbpasswd", "-c", str(conf), "-s", "-a", user], input=f"{PASSWORD}\n{PASSWORD}\n", text=True, check=True
    )
    log = state / "smbd.out"
    with log.open("wb") as out:
        # a session of its own: smbd ends its children by signalling its whole process group, never ours
        server = subprocess.Popen(
            [smbd, "--foreground", "--no-process-group", "--debug-stdout", "-s", str(conf)],
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    unc = f"\\\\127.0.0.1\\{SHARE}"
    try:
        _wait_for_port(port, server, log)
        if _try_mount(port, user, mount_point):
            try:
                yield Share(LOCAL_FILES, str(mount_point), folder, "cifs mount", None, unc, port, user)
            finally:
                subprocess.run(["umount", "-l", str(mount_point)], check=False)
        else:
            files = SmbLockFiles(port, user, PASSWORD)
            spec = f"127.0.0.1:{port}:{user}:{PASSWORD}"
            yield Share(files, unc, folder, "smbprotocol", spec, unc, port, user)
    finally:
        server.terminate()
        server.wait(timeout=10)
