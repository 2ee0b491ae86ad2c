"""The lab's writers of VM disk files: what a running VM, Resize-VHD, a replaced disk or a storage migration
does to the file on the host.

A shadow copy of a volume is a tree of hard links to the volume's files (`lab.handlers.shadow_copy`), so
every writer here first breaks the link (`break_link`: copy to a temporary file in the same folder, then
rename it over the file) while the file has another link: the shadow copy keeps the old inode, the point in
time. A write goes through `qemu-io` with random (incompressible) bytes; a resize rewrites the VHDX with the
collection's VHDX reader and writer (qemu-img cannot resize a VHDX); replace and migrate make a new file.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import tempfile
import threading
from pathlib import Path

from lab.windows.provision import QEMU_FORMATS

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.extents import ExtentKind
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.reader import VhdxSource
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.writer import VhdxWriter

_CHUNK = 4 << 20

# A shadow copy's point in time. The lab makes a copy by walking the volume (`lab.handlers.shadow_copy`), which
# takes a while, where VSS's snapshot is one instant; the server's writers of files on a volume (checkpoint layers
# made and merged, by any host: a CSV is every node's) and the walk hold this lock, so another job's change falls
# wholly before or after the copy, never half in it (a file deleted mid-walk failed the walk). `lab churn` and
# `lab write` run in a process of their own, between jobs.
POINT_IN_TIME = threading.RLock()


class DiskWriteError(RuntimeError):
    """The lab cannot make this change to the disk file."""


def _temporary_beside(path: Path) -> Path:
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".lab", dir=path.parent)
    os.close(descriptor)
    return Path(name)


def copy_sparse(source: Path, target: Path) -> None:
    """A copy that keeps the holes (Python's copies write them out)."""
    subprocess.run(["cp", "--sparse=always", str(source), str(target)], check=True, capture_output=True, timeout=600)


def replace_file(path: Path, fill: object) -> None:
    """Make the new content in a temporary file beside `path` (`fill(temporary)`), then rename it over `path`."""
    with POINT_IN_TIME:
        temporary = _temporary_beside(path)
        try:
            fill(temporary)  # type: ignore[operator]
            temporary.chmod(0o644)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


def break_link(path: Path) -> None:
    """Give `path` an inode of its own when another name (a shadow copy's) shares it, and make it writable."""
    if path.stat().st_nlink > 1:
        replace_file(path, lambda temporary: copy_sparse(path, temporary))
    path.chmod(0o644)


def _qemu_format(path: Path) -> str:
    qemu_format = QEMU_FORMATS.get(path.suffix.lower())
    if qemu_format is None:
        raise DiskWriteError(f"{path.name} is not a virtual disk the lab writes (.vhdx, .vhd)")
    return qemu_format


def write_random(path: Path, ranges: list[tuple[int, int]], seed: int | str | None = None) -> None:
    """Write random bytes at each (offset, length) of the disk's virtual content with qemu-io."""
    qemu_format = _qemu_format(path)
    break_link(path)
    generator = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="lab-write-") as scratch:
        commands = []
        for index, (offset, length) in enumerate(ranges):
            source = Path(scratch) / str(index)
            source.write_bytes(generator.randbytes(length))
            commands += ["-c", f"write -s {source} {offset} {length}"]
        done = subprocess.run(
            ["qemu-io", "-f", qemu_format, *commands, str(path)], capture_output=True, text=True, timeout=600
        )
    if done.returncode != 0 or "error" in done.stdout.lower():
        detail = (done.stderr or done.stdout).strip()
        raise DiskWriteError(
            f"qemu-io cannot write {path.name} (the lab writes dynamic disks, not differencing ones): {detail}"
        )


def virtual_size(path: Path) -> int:
    """Get-VHD's Size: the virtual size of a VHDX (differencing too, through the collection's reader) or VHD."""
    if _qemu_format(path) == "vhdx":
        with VhdxSource(str(path)) as source:
            return source.virtual_size
    info = subprocess.run(["qemu-img", "info", "--output=json", str(path)], check=True, capture_output=True, timeout=60)
    return int(json.loads(info.stdout)["virtual-size"])


def resize(path: Path, new_size: int) -> None:
    """Resize-VHD of a VHDX: the same content in a larger disk (the lab does not shrink)."""
    if _qemu_format(path) != "vhdx":
        raise DiskWriteError(f"{path.name}: the lab resizes VHDX files only")
    with VhdxSource(str(path)) as source:
        if new_size < source.virtual_size:
            raise DiskWriteError(f"{path.name}: the lab grows disks only ({source.virtual_size} bytes now)")

        def fill(temporary: Path) -> None:
            with VhdxWriter(str(temporary), new_size) as writer:
                for extent in (e for e in source.extents() if e.kind is ExtentKind.DATA):
                    for start in range(extent.offset, extent.offset + extent.length, _CHUNK):
                        length = min(_CHUNK, extent.offset + extent.length - start)
                        writer.write(start, source.read(start, length))

        replace_file(path, fill)


def replace_disk(path: Path, size: int) -> None:
    """Another, empty disk of the same size at the same path (a disk swapped in the VM's settings)."""
    command = ["qemu-img", "create", "-q", "-f", _qemu_format(path)]
    replace_file(path, lambda temporary: subprocess.run([*command, str(temporary), str(size)], check=True, timeout=60))


def migrate(path: Path) -> None:
    """A storage migration away and back: the same content in a new file."""
    replace_file(path, lambda temporary: copy_sparse(path, temporary))
