"""Where extracted guest files go: a folder of the data mover host, or a Windows host's folder by its UNC path.

A UNC path (``\\\\server\\share\\folder``) is written through SMB with smbprotocol's ``smbclient`` when the data
mover host is not Windows or when SMB credentials are given; on Windows without credentials, Windows opens it
itself, as the data mover's identity. Each SMB call is the request Windows sends for the same file operation:
CREATE (FILE_CREATE for a new file, never following a reparse point as the last component is checked first),
SET_INFO FileBasicInformation for the modification time and FileRenameInformation (ReplaceIfExists) to put a
complete file in place ("UNC Path" naming, https://learn.microsoft.com/dotnet/standard/io/file-path-formats).
"""

from __future__ import annotations

import contextlib
import ntpath
import os
import re
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Dict, Optional, TypeVar

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import remove_quietly

_UNC = re.compile(r"^\\\\[^\\/]+\\[^\\/]+")  # \\server\share, then the folders
SMB_PORT = 445
_STATUS_LOGON_FAILURE = 0xC000006D  # "NTSTATUS Values", https://learn.microsoft.com/openspecs/windows_protocols/ms-erref/596a1078-e883-4972-9bbc-49e60bebca55
Result = TypeVar("Result")


@dataclass(frozen=True)
class SmbCredentials:
    """Who writes a UNC destination through SMB; ``username`` None: the data mover's own Windows identity."""

    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    port: int = SMB_PORT


def is_unc(path: str) -> bool:
    return bool(_UNC.match(path))


class LocalFolder:
    """A folder of the data mover host (on Windows, a UNC path too: Windows opens it)."""

    def __init__(self, destination: str) -> None:
        self.root = os.path.realpath(destination)

    def join(self, folder: str, name: str) -> str:
        return os.path.join(folder, name)

    def parent(self, path: str) -> str:
        return os.path.dirname(path)

    def inside(self, target: str) -> bool:
        """Whether ``target`` stays under the root once links are resolved."""
        return os.path.commonpath([self.root, os.path.realpath(target)]) == self.root

    def lexists(self, path: str) -> bool:
        return os.path.lexists(path)

    def islink(self, path: str) -> bool:
        return os.path.islink(path)

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def open_new(self, path: str) -> BinaryIO:
        """A new file, never one that exists or a link."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        return os.fdopen(os.open(path, flags, 0o644), "wb")

    def put_in_place(self, temporary: str, target: str, mtime_ns: int) -> None:
        """The complete file gets the guest's modification time and replaces ``target``."""
        os.utime(temporary, ns=(mtime_ns, mtime_ns))
        os.replace(temporary, target)

    def remove_quietly(self, path: str) -> None:
        remove_quietly(path)

    def close(self) -> None:
        """Nothing to let go of."""


class SmbFolder:
    """A Windows host's folder by its UNC path, through smbprotocol; every call carries the credentials."""

    def __init__(self, destination: str, credentials: SmbCredentials) -> None:
        self._smb = _smbclient()
        # a session of its own: smbclient would otherwise reuse any session to the server, whoever opened it
        self._kw: Dict[str, Any] = {"port": credentials.port, "connection_cache": {}}
        if credentials.username:
            self._kw.update(username=credentials.username, password=credentials.password)
        if any(part in (".", "..") for part in destination.split("\\")):
            raise DataMoverError(f"destination {destination} has a '.' or '..' component: name the folder itself")
        parts = [part for part in destination.split("\\")[2:] if part]
        self.root = "\\\\" + "\\".join(parts)

    def join(self, folder: str, name: str) -> str:
        return f"{folder}\\{name}"

    def parent(self, path: str) -> str:
        return ntpath.dirname(path)

    def inside(self, target: str) -> bool:
        """Names are single components (safe_name), and no folder on the way is a link (checked by the caller's
        kind check), so a target that starts with the root stays under it on the server."""
        return target.lower().startswith(self.root.lower() + "\\")

    def lexists(self, path: str) -> bool:
        return self._call(lambda: self._smb.path.lexists(path, **self._kw))

    def islink(self, path: str) -> bool:
        return self._call(lambda: self._smb.path.islink(path, **self._kw))

    def isdir(self, path: str) -> bool:
        return self._call(lambda: self._smb.path.isdir(path, **self._kw))

    def makedirs(self, path: str) -> None:
        self._call(lambda: self._smb.makedirs(path, exist_ok=True, **self._kw))

    def open_new(self, path: str) -> BinaryIO:
        return self._call(lambda: self._smb.open_file(path, mode="xb", **self._kw))

    def put_in_place(self, temporary: str, target: str, mtime_ns: int) -> None:
        self._call(lambda: self._smb.utime(temporary, ns=(mtime_ns, mtime_ns), **self._kw))
        self._call(lambda: self._smb.replace(temporary, target, **self._kw))

    def remove_quietly(self, path: str) -> None:
        with contextlib.suppress(OSError):
            self._call(lambda: self._smb.remove(path, **self._kw))

    def close(self) -> None:
        self._smb.reset_connection_cache(connection_cache=self._kw["connection_cache"])

    def _call(self, action: Callable[[], Result]) -> Result:
        """smbprotocol's errors as OSError (its SMBOSError is one; a refused session or a lost connection not)."""
        try:
            return action()
        except OSError as exc:
            if getattr(exc, "ntstatus", None) == _STATUS_LOGON_FAILURE:
                refused = "the server refused the SMB logon: check smb_username and smb_password"
                raise OSError(exc.errno, refused) from exc
            raise
        except Exception as exc:  # smbprotocol raises its own classes for the session and the connection
            raise OSError(0, f"SMB: {exc}") from exc


def _smbclient() -> Any:
    try:
        import smbclient  # deferred: only a UNC destination written from a host that is not Windows needs it
        import smbclient.path  # lexists, islink, isdir
    except ImportError as exc:
        raise DataMoverError(
            "a UNC destination is written through SMB with the Python package smbprotocol, which this data mover "
            "host lacks: install it (pip install smbprotocol), or extract to a local folder"
        ) from exc
    return smbclient


Folder = Any  # LocalFolder or SmbFolder: the same methods


def host_folder(destination: str, credentials: SmbCredentials) -> Folder:
    """The folder an extraction writes into: SMB for a UNC path unless Windows opens it (no credentials given)."""
    if is_unc(destination) and (os.name != "nt" or credentials.username):
        return SmbFolder(destination, credentials)
    return LocalFolder(destination)
