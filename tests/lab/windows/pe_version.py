"""File version resources: what `(Get-Item f).VersionInfo` reads from an executable.

A Windows executable carries a VS_FIXEDFILEINFO block (signature 0xFEEF04BD) with its file
version as two 32-bit words. The lab reads that block from any file that starts like a PE
image (`MZ`), and writes minimal such files for the binaries an estate or a test needs
(`vmms.exe` at the host's build, component executables at their version).
"""

from __future__ import annotations

import struct
from pathlib import Path

_SIGNATURE = struct.pack("<I", 0xFEEF04BD)
_HEADER_BYTES = 64 * 1024  # version resources of the lab's files sit near the start


def file_version(path: Path) -> str | None:
    """`major.minor.build.private` of the file's version resource; None without one or no file."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(_HEADER_BYTES)
    except OSError:
        return None
    if not head.startswith(b"MZ"):
        return None
    offset = head.find(_SIGNATURE)
    if offset < 0 or len(head) < offset + 16:
        return None
    most, least = struct.unpack_from("<II", head, offset + 8)
    return f"{most >> 16}.{most & 0xFFFF}.{least >> 16}.{least & 0xFFFF}"


def executable_bytes(version: str, payload: bytes = b"") -> bytes:
    """A minimal file Windows would read `version` from (the version as up to four numbers)."""
    parts = [int(part) for part in version.split(".")[:4]] + [0, 0, 0, 0]
    most, least = parts[0] << 16 | parts[1], parts[2] << 16 | parts[3]
    fixed = _SIGNATURE + struct.pack("<IIIII", 0x10000, most, least, most, least) + bytes(32)
    return b"MZ" + bytes(62) + b"VS_VERSION_INFO\0" + fixed + payload


def write_executable(path: Path, version: str, payload: bytes = b"") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(executable_bytes(version, payload))
