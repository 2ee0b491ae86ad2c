"""An emulated host's file system: Windows paths mapped to a directory tree on disk.

`C:\\Users\\me\\a.txt` on host `hv1` is `<state>/hosts/hv1/fs/C/Users/me/a.txt`. Drive letters
are upper-cased. UNC paths, relative paths and `..` are refused.

Names are case-insensitive and case-preserving, as on NTFS, ReFS and SMB shares ("Naming Files, Paths, and
Namespaces", below, tells programs not to assume case sensitivity; "File path formats on Windows systems",
https://learn.microsoft.com/dotnet/standard/io/file-path-formats, section "Case and the Windows file system":
names compare case-insensitively and keep the case they were created with). A name that matches an existing
entry but for case opens that entry, whose name stays as it was stored (a listing shows it so); a name that
matches none is created in the case given. Names are compared upper-cased, as the file system's up-case table
compares them (the lab uses Python's mapping, not a volume's table).

A name Windows refuses is refused as Windows refuses it: characters 0-31 and `< > : " | ? *` are
reserved in a file or folder name ("Naming Files, Paths, and Namespaces",
https://learn.microsoft.com/windows/win32/fileio/naming-a-file), and the file functions fail with
ERROR_INVALID_NAME (123), "The filename, directory name, or volume label syntax is incorrect."
("System Error Codes (0-499)", https://learn.microsoft.com/windows/win32/debug/system-error-codes--0-499-).
The lab emulates no alternate data streams, which NTFS names with a colon, so a colon is refused too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

_DRIVE_PATH = re.compile(r"^(?P<drive>[A-Za-z]):[\\/](?P<rest>.*)$", re.DOTALL)
_RESERVED_IN_NAME = re.compile(r'[\x00-\x1f<>:"|?*]')
INVALID_NAME_MESSAGE = "The filename, directory name, or volume label syntax is incorrect."


class HostPathError(OSError):
    """A path the lab cannot map into the host's tree."""


class InvalidNameError(HostPathError):
    """A path whose name Windows refuses (ERROR_INVALID_NAME); its message is Windows' own."""

    winerror = 123

    def __init__(self, windows_path: str) -> None:
        super().__init__(INVALID_NAME_MESSAGE)
        self.windows_path = windows_path


def environment(username: str) -> dict[str, str]:
    """The environment variables of a logon session of `username` the lab knows (upper-case names)."""
    profile = f"C:\\Users\\{username}"
    temp = f"{profile}\\AppData\\Local\\Temp"
    return {
        "USERPROFILE": profile,
        "TEMP": temp,
        "TMP": temp,
        "SYSTEMROOT": "C:\\Windows",
        "PROGRAMDATA": "C:\\ProgramData",
    }


def expand_variables(text: str, username: str) -> str:
    """`%NAME%` expanded like [Environment]::ExpandEnvironmentVariables; unknown names stay."""
    variables = environment(username)
    return re.sub(r"%([^%]+)%", lambda m: variables.get(m.group(1).upper(), m.group(0)), text)


class HostFileSystem:
    """The per-host tree under `root` (the `fs` directory of the host)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def create_skeleton(self, username: str) -> None:
        """The folders a fresh Windows Server has that Ansible writes to."""
        for folder in ("Windows/Temp", f"Users/{username}/AppData/Local/Temp", "ProgramData"):
            (self.root / "C" / folder).mkdir(parents=True, exist_ok=True)

    def local_path(self, windows_path: str) -> Path:
        """Where the Windows path lives on disk; raises HostPathError for paths outside a drive."""
        match = _DRIVE_PATH.match(windows_path.strip(" "))
        if not match:
            raise HostPathError(f"The lab maps only absolute drive paths, not {windows_path!r}")
        if _RESERVED_IN_NAME.search(match["rest"]):
            raise InvalidNameError(windows_path)
        parts = [part for part in re.split(r"[\\/]+", match["rest"]) if part not in ("", ".")]
        if ".." in parts:
            raise HostPathError(f"The lab refuses '..' in {windows_path!r}")
        return stored_path(self.root / match["drive"].upper(), parts)


def stored_name(folder: Path, name: str) -> str:
    """The name of `folder`'s entry that equals `name` but for case, or `name` when there is none."""
    if os.path.lexists(folder / name):  # the exact name: no listing needed
        return name
    try:
        with os.scandir(folder) as entries:
            return next((entry.name for entry in entries if entry.name.upper() == name.upper()), name)
    except OSError:  # no such folder (yet): the name is created as given
        return name


def stored_path(base: Path, parts: Iterable[str]) -> Path:
    """`base` joined with `parts`, each part in the case its existing entry was stored with."""
    path = base
    for part in parts:
        path = path / stored_name(path, part)
    return path
