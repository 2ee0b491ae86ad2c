"""Guest files and folders written into a folder of the data mover host or a Windows host's (guest/targets.py),
safely.

Names come from the guest and are not trusted: each is one path component, with the characters neither
Linux nor Windows takes in a name (``/ \\ : * ? " < > |`` and control characters) replaced by ``_``, the
names ``.`` and ``..`` refused, and what Windows would not write as given made safe ("Naming Files, Paths, and
Namespaces": a device name such as ``CON`` or ``NUL.txt`` gets a ``_`` before it, a trailing space or period
becomes ``_``); every target is checked to lie inside the destination once links are resolved, and two guest
items that would land on one target (names that clean up alike, or differ only in case, which a Windows
destination does not tell apart) are refused, never one written over the other. An existing file is replaced
only with ``overwrite``. A file is written to a short temporary name beside it (a 255-character name leaves no
room for a suffix) and renamed when complete, so a failure leaves no half file; zero stretches become holes
(sparse files stay sparse), and its modification time is the guest's, to the 100 ns NTFS keeps.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterable, List, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import CorruptionError, DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import describe_os_error
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.locate import GuestVolume
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.ntfs import Entry
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.targets import Folder
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.view import DamagedChunkError

BLOCK = 1 << 20  # bytes read and written at a time
_ZEROS = bytes(BLOCK)
_UNSAFE = re.compile(r'[\x00-\x1f/\\:*?"<>|]')
# Windows' device names, reserved with any extension too (COM and LPT with a superscript digit as well)
_DEVICE = re.compile(r"(?i)^(CON|PRN|AUX|NUL|(COM|LPT)[0-9\u00b9\u00b2\u00b3])(\.|$)")
Progress = Optional[Callable[[int, int], None]]


@dataclass(frozen=True)
class Planned:
    """One file or folder to write: the guest entry and the host path it goes to."""

    entry: Entry
    target: str

    def to_dict(self) -> dict:
        return {"path": self.entry.path, "kind": self.entry.kind, "size": self.entry.size, "target": self.target}


def safe_name(name: str) -> str:
    """``name`` as one path component of the host: unsafe characters replaced, never ``.`` or ``..``, no
    device name, no trailing space or period (Windows would strip them and write another name)."""
    cleaned = _UNSAFE.sub("_", name)
    if cleaned in ("", ".", "..") or _DEVICE.match(cleaned):
        cleaned = "_" + cleaned
    return cleaned[:-1] + "_" if cleaned[-1] in ". " else cleaned


def plan(
    guest: GuestVolume, chosen: Iterable[Entry], folder: Folder, overwrite: bool
) -> Tuple[List[Planned], List[str]]:
    """What extracting ``chosen`` (files and folders, folders whole) into ``folder`` writes, and the links left out;
    fails as the extraction would (an existing file without ``overwrite``, a target outside the folder)."""
    planned: List[Planned] = []
    skipped: List[str] = []
    for entry in chosen:
        name = safe_name(entry.name or guest.partition.name or "volume")
        _add(guest, entry, folder, folder.join(folder.root, name), (planned, skipped))
    for item in planned:
        _check_inside(folder, item.target)
    _refuse_collisions(planned)
    _refuse_existing(folder, planned, overwrite)
    return planned, skipped


def _refuse_collisions(planned: List[Planned]) -> None:
    """Two guest items on one target (names that clean up alike, or differ only in case): the second would
    replace the first without a word."""
    first: dict = {}
    clashes = []
    for item in planned:
        key = item.target.casefold()
        if key in first:
            clashes.append(f"{first[key].entry.path} and {item.entry.path} -> {item.target}")
        else:
            first[key] = item
    if clashes:
        raise DataMoverError(
            f"guest items would be written to one name: {'; '.join(clashes[:5])}. Restore them one at a time, "
            "each into a destination of its own"
        )


def _add(guest: GuestVolume, entry: Entry, folder: Folder, target: str, found: Tuple[list, list]) -> None:
    planned, skipped = found
    if entry.kind == "link":
        skipped.append(entry.path)  # its target is a path of the running guest: not followed
        return
    planned.append(Planned(entry, target))
    if entry.kind == "directory":
        for child in guest.volume.entries(entry):
            _add(guest, child, folder, folder.join(target, safe_name(child.name)), found)


def _check_inside(folder: Folder, target: str) -> None:
    if not folder.inside(target):
        raise DataMoverError(f"{target} would be written outside the destination {folder.root}: refused")


def _refuse_existing(folder: Folder, planned: List[Planned], overwrite: bool) -> None:
    """A folder may exist (the extraction adds to it); a file only with ``overwrite``; a link or a thing of the
    other kind never (writing through a link could leave the destination)."""
    try:
        present = [p for p in planned if folder.lexists(p.target)]
        wrong = [p.target for p in present if folder.islink(p.target) or folder.isdir(p.target) != _is_folder(p)]
    except OSError as exc:
        raise DataMoverError(describe_os_error("reading", folder.root, exc)) from exc
    if wrong:
        raise DataMoverError(f"the destination holds a link or another kind of item at {', '.join(wrong[:5])}")
    files = [p.target for p in present if not _is_folder(p)]
    if files and not overwrite:
        shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
        raise DataMoverError(f"destination exists: {shown} (set overwrite to replace)")


def _is_folder(item: Planned) -> bool:
    return item.entry.kind == "directory"


class _Meter:
    """File bytes written so far, reported as ``progress(done, total)``."""

    def __init__(self, total: int, progress: Progress) -> None:
        self.total, self.progress, self.done = total, progress, 0

    def advance(self, amount: int) -> None:
        self.done += amount
        if self.progress is not None:
            self.progress(self.done, self.total)


def extract(guest: GuestVolume, folder: Folder, planned: List[Planned], progress: Progress = None) -> int:
    """Write every planned folder and file (folders come before what they hold); returns the file bytes written."""
    meter = _Meter(sum(p.entry.size for p in planned if p.entry.kind == "file"), progress)
    for item in planned:
        if item.entry.kind == "directory":
            _make_folder(folder, item.target)
        else:
            _write_file(guest, folder, item, meter)
    return meter.done


def _make_folder(folder: Folder, path: str) -> None:
    try:
        folder.makedirs(path)
    except OSError as exc:
        raise DataMoverError(describe_os_error("creating", path, exc)) from exc


def _write_file(guest: GuestVolume, folder: Folder, item: Planned, meter: _Meter) -> None:
    """Write one file under a temporary name, then rename it over the target."""
    _make_folder(folder, folder.parent(item.target))
    temporary = folder.join(folder.parent(item.target), f".{os.getpid()}-{os.urandom(4).hex()}.restoring")
    try:
        stream = guest.volume.open_data(item.entry)
        with folder.open_new(temporary) as output:
            _copy(guest, item.entry, stream, output, meter)
            output.truncate(item.entry.size)  # a trailing hole
        folder.put_in_place(temporary, item.target, item.entry.mtime_ns)
    except OSError as exc:
        folder.remove_quietly(temporary)
        raise DataMoverError(describe_os_error("writing", item.target, exc)) from exc
    except BaseException:
        folder.remove_quietly(temporary)
        raise


def _copy(guest: GuestVolume, entry: Entry, stream: BinaryIO, output: BinaryIO, meter: _Meter) -> None:
    position = 0
    while position < entry.size:
        try:
            block = stream.read(min(BLOCK, entry.size - position))
        except DamagedChunkError as exc:
            raise CorruptionError(_damage(guest, entry, position, exc)) from exc
        if not block:
            raise CorruptionError(f"{entry.path} on {guest.volume.label} ends at {position} of its {entry.size} bytes")
        if block == _ZEROS[: len(block)]:
            output.seek(len(block), os.SEEK_CUR)  # a hole: the guest's zeros cost no space here
        else:
            output.write(block)
        position += len(block)
        meter.advance(len(block))


def _damage(guest: GuestVolume, entry: Entry, position: int, exc: DamagedChunkError) -> str:
    """Which byte of the file is lost: the first of its data in the damaged chunk (else the block being read)."""
    offset = guest.volume.file_offset(entry, exc.start, exc.end, guest.partition.offset)
    where = position if offset is None else offset
    return f"{entry.path} on {guest.volume.label} is damaged at file offset {where}: {exc}; the file was not written"
