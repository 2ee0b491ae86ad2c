"""Guest disks made by real tools: a partition table from parted (MBR) or sgdisk (GPT), NTFS volumes from
mkntfs, folders and a sparse file through the ntfs-3g FUSE driver, files copied in with ntfscp, and the
whole converted to a dynamic VHDX by qemu-img. Nothing of the collection's own code writes them.

Each file put in is recorded with its SHA-256, so a test compares what it extracts with what went in.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

from qemu import MiB, convert_to_vhdx, pattern

SECTOR = 512


def tool(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


@dataclass
class Volume:
    """What one NTFS volume holds, by guest path (``\\Docs\\a.txt``)."""

    label: str
    size: int
    files: Dict[str, bytes] = field(default_factory=dict)  # guest path ("\\a\\b.txt") -> content
    folders: List[str] = field(default_factory=list)
    sparse: Dict[str, Tuple[int, bytes]] = field(default_factory=dict)  # path -> (size, data at offset 0)
    driver_files: Dict[str, bytes] = field(default_factory=dict)  # in the root, through the driver (any name)
    mtimes: Dict[str, int] = field(default_factory=dict)  # driver file -> modification time, ns since 1970
    streams: Dict[str, bytes] = field(default_factory=dict)  # "\\file:stream" (in the root) -> its data

    def hashes(self) -> Dict[str, str]:
        written = {**self.files, **self.driver_files}
        found = {path: hashlib.sha256(data).hexdigest() for path, data in written.items()}
        for path, (size, head) in self.sparse.items():
            found[path] = hashlib.sha256(head + bytes(size - len(head))).hexdigest()
        return found


def make_volume(image: Path, volume: Volume) -> None:
    """An NTFS file system in ``image`` holding ``volume``: folders and sparse files through the ntfs-3g
    driver (ntfscp creates no folder, and writes every byte), then each file copied in by ntfscp."""
    with open(image, "wb") as handle:
        handle.truncate(volume.size)
    tool("mkntfs", "-F", "-Q", "-q", "-L", volume.label, str(image))
    if volume.folders or volume.sparse or volume.driver_files or volume.streams:
        _through_driver(image, volume)
    with tempfile.TemporaryDirectory() as scratch:
        for number, (path, data) in enumerate(sorted(volume.files.items())):
            source = Path(scratch, str(number))
            source.write_bytes(data)
            tool("ntfscp", "-q", str(image), str(source), path.replace("\\", "/"))


def _through_driver(image: Path, volume: Volume) -> None:
    with tempfile.TemporaryDirectory() as mount:
        # With streams, streams_interface=windows: `file:stream` names an alternate data stream, as on Windows;
        # without, a colon is part of a name (the POSIX namespace), as `a:b.txt` needs.
        options = ("-o", "streams_interface=windows") if volume.streams else ()
        tool("ntfs-3g", *options, str(image), mount)
        try:
            for folder in volume.folders:
                os.makedirs(Path(mount, *folder.strip("\\").split("\\")), exist_ok=True)
            for path, (size, head) in volume.sparse.items():
                target = Path(mount, *path.strip("\\").split("\\"))
                with open(target, "wb") as handle:
                    handle.write(head)
                    handle.truncate(size)  # ntfs-3g leaves the rest unallocated: a sparse run
            for path, data in volume.driver_files.items():
                Path(mount, path[1:]).write_bytes(data)  # in the root: the name may hold a backslash
            for path, data in volume.streams.items():
                Path(mount, path[1:]).write_bytes(data)
            for path, mtime_ns in volume.mtimes.items():
                os.utime(Path(mount, path[1:]), ns=(mtime_ns, mtime_ns))  # NTFS keeps it to 100 ns
        finally:
            tool("umount", mount)


def gpt_disk(raw: Path, size: int, volumes: List[Volume], lead_partition: int = 16 * MiB) -> List[int]:
    """A GPT disk: a Microsoft reserved partition first (not NTFS), then one basic data partition per volume.
    Returns each volume's byte offset."""
    with open(raw, "wb") as handle:
        handle.truncate(size)
    tool("sgdisk", "-o", "-n", f"1:2048:+{lead_partition // 1024}K", "-t", "1:0C01", "-c", "1:reserved", str(raw))
    offsets, start = [], 2048 * SECTOR + lead_partition
    for number, volume in enumerate(volumes, start=2):
        first = start // SECTOR
        tool(
            "sgdisk",
            "-n",
            f"{number}:{first}:+{volume.size // 1024}K",
            "-t",
            f"{number}:0700",
            "-c",
            f"{number}:{volume.label}",
            str(raw),
        )
        offsets.append(start)
        start += volume.size
    _fill(raw, volumes, offsets)
    return offsets


def mbr_disk(raw: Path, size: int, volumes: List[Volume]) -> List[int]:
    """An MBR disk from parted: the first volume primary, the others logical in an extended partition."""
    with open(raw, "wb") as handle:
        handle.truncate(size)
    tool("parted", "-s", str(raw), "mklabel", "msdos")
    start, offsets = MiB, []
    for index, volume in enumerate(volumes):
        if index == 1:
            tool("parted", "-s", str(raw), "mkpart", "extended", f"{start}B", f"{size - 1}B")
            start += MiB  # room for the extended boot record
        kind = "primary" if index == 0 else "logical"
        tool("parted", "-s", str(raw), "mkpart", kind, "ntfs", f"{start}B", f"{start + volume.size - 1}B")
        offsets.append(start)
        start += volume.size + (MiB if index else 0)
    _fill(raw, volumes, offsets)
    return offsets


def _fill(raw: Path, volumes: List[Volume], offsets: List[int]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        for volume, offset in zip(volumes, offsets):
            image = Path(scratch, "volume.img")
            make_volume(image, volume)
            with open(raw, "r+b") as disk, open(image, "rb") as source:
                disk.seek(offset)
                while block := source.read(4 * MiB):
                    disk.write(block) if block.strip(b"\0") else disk.seek(len(block), os.SEEK_CUR)


def to_vhdx(raw: Path) -> Path:
    """The raw disk as a dynamic VHDX (qemu-img's default subformat), beside it."""
    return convert_to_vhdx(raw, raw.with_suffix(".vhdx"))


def content(seed: str, size: int) -> bytes:
    return pattern(seed, size)
