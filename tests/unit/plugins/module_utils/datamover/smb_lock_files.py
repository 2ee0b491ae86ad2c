"""``LockFiles`` over SMB3 with smbprotocol's ``smbclient``: the lock tests' way to a real Samba share where the
test machine cannot mount one (its kernel has no cifs). Each call is one SMB2 request the server judges, the
same requests Windows sends for a UNC path: CREATE with FILE_CREATE, SET_INFO FileLinkInformation and
FileRenameInformation (ReplaceIfExists FALSE), READ and WRITE through one open. Files are opened sharing read and
write, as CPython's open and os.open do on Windows (the C runtime's _wopen, _SH_DENYNO), not smbclient's default of
no sharing, which made a reader and the holder's refresh refuse each other where Windows lets both through; and,
as ``LocalLockFiles``, a read, rename or remove that meets an open without FILE_SHARE_DELETE is retried
(``lock_files.retry_busy``)."""

from __future__ import annotations

import errno
import functools
from typing import Any, Callable, List, TypeVar

import smbclient
from smbprotocol.exceptions import SMBOSError

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock_files import retry_busy

Call = TypeVar("Call", bound=Callable[..., Any])
SHARED = "rw"  # FILE_SHARE_READ | FILE_SHARE_WRITE, what _wopen asks for on Windows


def as_windows_errors(method: Call) -> Call:
    """smbprotocol's SMBOSError as the built-in OSError subclass Python raises for the same errno on Windows
    (a sharing violation is a PermissionError there, which the lock retries; a missing file FileNotFoundError)."""

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except SMBOSError as exc:
            raise OSError(exc.errno, exc.strerror, getattr(exc, "filename", None)) from exc

    return call  # type: ignore[return-value]


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

    @as_windows_errors
    def listdir(self, folder: str) -> List[str]:
        return smbclient.listdir(folder, **self._kw)

    def read(self, path: str) -> bytes:
        content: List[bytes] = []
        retry_busy(lambda: content.append(self._read_once(path)))
        return content[0]

    @as_windows_errors
    def _read_once(self, path: str) -> bytes:
        with smbclient.open_file(path, mode="rb", share_access=SHARED, **self._kw) as handle:
            return handle.read()

    @as_windows_errors
    def mtime(self, path: str) -> float:
        return smbclient.stat(path, **self._kw).st_mtime

    @as_windows_errors
    def write_new(self, path: str, data: bytes) -> None:
        with smbclient.open_file(path, mode="xb", share_access=SHARED, **self._kw) as handle:
            handle.write(data)
            handle.flush()

    @as_windows_errors
    def link(self, source: str, target: str) -> None:
        smbclient.link(source, target, **self._kw)

    def rename_noreplace(self, source: str, target: str) -> None:
        retry_busy(lambda: self._rename(source, target))  # FileRenameInformation with ReplaceIfExists FALSE

    def rename(self, source: str, target: str) -> None:
        retry_busy(lambda: self._rename(source, target))

    @as_windows_errors
    def _rename(self, source: str, target: str) -> None:
        smbclient.rename(source, target, **self._kw)

    def remove(self, path: str) -> None:
        try:
            retry_busy(lambda: self._remove(path))
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise

    @as_windows_errors
    def _remove(self, path: str) -> None:
        smbclient.remove(path, **self._kw)

    @as_windows_errors
    def rewrite(self, path: str, still_ours: Callable[[bytes], bool], data: bytes) -> bool:
        try:
            handle = smbclient.open_file(path, mode="r+b", share_access=SHARED, **self._kw)
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

    @as_windows_errors
    def append(self, path: str, data: bytes) -> None:
        with smbclient.open_file(path, mode="ab", share_access=SHARED, **self._kw) as handle:
            handle.write(data)
