"""``LockFiles`` over SMB3 with smbprotocol's ``smbclient``: the lock tests' way to a real Samba share where the
test machine cannot mount one (its kernel has no cifs). Each call is one SMB2 request the server judges, the
same requests Windows sends for a UNC path: CREATE with FILE_CREATE, SET_INFO FileLinkInformation and
FileRenameInformation (ReplaceIfExists FALSE), READ and WRITE through one open."""

from __future__ import annotations

import errno
from typing import Callable, List

import smbclient
from smbprotocol.exceptions import SMBOSError


class SmbLockFiles:
    """Paths are UNC (``\\\\server\\share\\folder``); ``port``, ``username``, ``password`` go with every call."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self._kw = {"port": port, "username": username, "password": password}

    @classmethod
    def from_spec(cls, spec: str) -> SmbLockFiles:
        """``server:port:user:password`` as lock_process.py takes it (the server is in the UNC paths)."""
        _, port, username, password = spec.split(":", 3)
        return cls(int(port), username, password)

    def join(self, folder: str, name: str) -> str:
        return f"{folder}\\{name}"

    def listdir(self, folder: str) -> List[str]:
        return smbclient.listdir(folder, **self._kw)

    def read(self, path: str) -> bytes:
        with smbclient.open_file(path, mode="rb", **self._kw) as handle:
            return handle.read()

    def mtime(self, path: str) -> float:
        return smbclient.stat(path, **self._kw).st_mtime

    def write_new(self, path: str, data: bytes) -> None:
        with smbclient.open_file(path, mode="xb", **self._kw) as handle:
            handle.write(data)
            handle.flush()

    def link(self, source: str, target: str) -> None:
        smbclient.link(source, target, **self._kw)

    def rename_noreplace(self, source: str, target: str) -> None:
        smbclient.rename(source, target, **self._kw)  # FileRenameInformation with ReplaceIfExists FALSE

    def rename(self, source: str, target: str) -> None:
        smbclient.rename(source, target, **self._kw)

    def remove(self, path: str) -> None:
        try:
            smbclient.remove(path, **self._kw)
        except SMBOSError as exc:
            if exc.errno != errno.ENOENT:
                raise

    def rewrite(self, path: str, still_ours: Callable[[bytes], bool], data: bytes) -> bool:
        try:
            handle = smbclient.open_file(path, mode="r+b", **self._kw)
        except SMBOSError as exc:
            if exc.errno == errno.ENOENT:
                return False
            raise
        with handle:
            if not still_ours(handle.read()):
                return False
            handle.seek(0)
            handle.write(data)
            handle.flush()
            return True

    def append(self, path: str, data: bytes) -> None:
        with smbclient.open_file(path, mode="ab", **self._kw) as handle:
            handle.write(data)
