"""The files of an NTFS volume, read through dissect.ntfs (Fox-IT's maintained NTFS parser, pure Python).

Paths are the guest's: ``\\Docs\\report.txt`` (``/`` is taken too), matched without regard to case as Windows
does. Reparse points (junctions, symbolic links, mount points) are listed but never followed: their target is
a path of the running guest, which may lie on another volume. The reserved metadata files (MFT records 0 to
23, "Master File Table (Local File Systems)",
https://learn.microsoft.com/en-us/windows/win32/fileio/master-file-table) are not listed, as Windows lists
none of them. Times and attributes are those of ``$STANDARD_INFORMATION`` (the file names in a folder's index
may hold stale copies); attribute names follow "File Attribute Constants"
(https://learn.microsoft.com/en-us/windows/win32/fileio/file-attribute-constants).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, BinaryIO, Iterator, List, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import (
    CorruptionError,
    DataMoverError,
    DependencyError,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.view import RandomAccessFile

LIBRARY = "dissect.ntfs"
FIRST_USER_RECORD = 24  # records 0-23 are the volume's own metadata files
ROOT_RECORD = 5
DOS_NAME = 2  # a $FILE_NAME in the DOS (8.3) namespace only
ATTRIBUTES = {
    0x1: "readonly",
    0x2: "hidden",
    0x4: "system",
    0x20: "archive",
    0x200: "sparse",
    0x400: "reparse_point",
    0x800: "compressed",
    0x4000: "encrypted",
}
ENCRYPTED = 0x4000


@dataclass
class Entry:
    """A file or folder of the guest, as listed (``record`` is the library's MFT record, to read it)."""

    name: str
    path: str
    kind: str  # file, directory or link (a reparse point)
    size: int
    created: Optional[str]
    modified: Optional[str]
    accessed: Optional[str]
    attributes: List[str]
    mtime_ns: int = 0  # nanoseconds since 1970 (NTFS keeps 100 ns units), to set on an extracted file
    record: Any = field(default=None, repr=False)

    def to_dict(self) -> dict:
        keys = ("name", "path", "kind", "size", "created", "modified", "accessed", "attributes")
        return {key: getattr(self, key) for key in keys}


def _library() -> Tuple[Any, Any]:
    """dissect.ntfs's NTFS class and its base error, imported only when a guest is read."""
    try:
        ntfs = importlib.import_module(LIBRARY)
        errors = importlib.import_module(LIBRARY + ".exceptions")
    except ImportError as exc:
        raise DependencyError(
            f"file-level restore needs the Python package {LIBRARY} (pinned in requirements.txt): {exc}"
        ) from exc
    return ntfs.NTFS, errors.Error


def join(folder: str, name: str) -> str:
    return folder.rstrip("\\") + "\\" + name


class Volume:
    """An NTFS volume read through ``window`` (its partition); ``label`` names it in errors."""

    def __init__(self, window: RandomAccessFile, label: str) -> None:
        ntfs_class, self._error = _library()
        self.label = label
        try:
            self.ntfs = ntfs_class(window)
            self.cluster_size = self.ntfs.cluster_size
            self.root = self.ntfs.mft.get(ROOT_RECORD)
        except CorruptionError:
            raise
        except Exception as exc:  # the library's errors and struct/EOF errors of a damaged volume
            raise DataMoverError(f"{label} is not a readable NTFS volume: {exc}") from exc

    def resolve(self, path: str) -> Entry:
        """The entry at ``path`` (the root for ``\\`` or an empty path), without following reparse points.

        Each name is looked up in its folder's index (a B-tree search that reads a few index blocks), not by
        listing the folder: finding one file in a folder of thousands reads next to nothing."""
        parts = [part for part in path.replace("/", "\\").split("\\") if part]
        entry = self.describe(self.root, "", "\\")
        for part in parts:
            if entry.kind != "directory":
                raise DataMoverError(f"{entry.path} on {self.label} is not a folder (looking for {path})")
            entry = self._child(entry, part)
        return entry

    def _child(self, folder: Entry, name: str) -> Entry:
        try:
            found = folder.record.index("$I30").search(name)
            record = found.dereference()
            if found.attribute.flags == DOS_NAME:  # found by its 8.3 alias: name it by its long name
                asked, name = name, record.filename
            else:
                asked, name = name, found.attribute.file_name
                if name != asked:  # the index compares case-blind: another name may differ only in case
                    record, name = self._same_but_case(folder, asked, record, name)
        except KeyError:
            raise DataMoverError(f"{join(folder.path, name)} does not exist on {self.label}") from None
        except (CorruptionError, DataMoverError):
            raise
        except Exception as exc:
            raise DataMoverError(f"cannot look up {name} in {folder.path} on {self.label}: {exc}") from exc
        if record.segment is not None and record.segment < FIRST_USER_RECORD:
            raise DataMoverError(f"{join(folder.path, name)} is a metadata file of {self.label}, not restorable")
        return self.describe(record, name, join(folder.path, name))

    def _same_but_case(self, folder: Entry, asked: str, record: Any, name: str) -> Tuple[Any, str]:
        """The child named exactly ``asked`` when the folder also holds names that differ from it only in case (NTFS
        keeps such names apart: the POSIX namespace, a folder marked case-sensitive), else the one the index found;
        several such names none of which is ``asked`` are refused, naming them: never another file's bytes."""
        folded = asked.casefold()
        alike = [
            (item.dereference(), item.attribute.file_name)
            for item in folder.record.iterdir(ignore_dos=True)
            if item.attribute.file_name.casefold() == folded
        ]
        exact = [(child, child_name) for child, child_name in alike if child_name == asked]
        if exact:
            return exact[0]
        if len(alike) > 1:
            names = ", ".join(sorted(child_name for _child, child_name in alike))
            raise DataMoverError(
                f"{join(folder.path, asked)} on {self.label} matches several names that differ only in case ({names}): "
                "give the one to restore with its exact case"
            )
        return record, name

    def entries(self, folder: Entry) -> List[Entry]:
        """The files and folders in ``folder``, by name (long names; 8.3 aliases left out)."""
        try:
            listed = list(folder.record.iterdir(ignore_dos=True))
            children = []
            for item in listed:
                reference = item.dereference()
                if reference.segment is not None and reference.segment < FIRST_USER_RECORD:
                    continue
                name = item.attribute.file_name
                children.append(self.describe(reference, name, join(folder.path, name)))
        except (CorruptionError, DataMoverError):
            raise
        except Exception as exc:
            raise DataMoverError(f"cannot list {folder.path} on {self.label}: the volume is damaged ({exc})") from exc
        return sorted(children, key=lambda child: child.name.casefold())

    def walk(self, folder: Entry) -> Iterator[Entry]:
        """Every entry under ``folder``, depth first in name order; reparse points are not entered."""
        for child in self.entries(folder):
            yield child
            if child.kind == "directory":
                yield from self.walk(child)

    def describe(self, record: Any, name: str, path: str) -> Entry:
        info = record.attributes.STANDARD_INFORMATION or None
        flags = info.file_attributes if info is not None else 0
        kind = "link" if record.is_reparse_point() else "directory" if record.is_dir() else "file"
        size = record.size() if kind == "file" and record.has_stream("") else 0
        times = [_iso(info, attr) for attr in ("creation_time", "last_modification_time", "last_access_time")]
        mtime_ns = info.last_modification_time_ns if info is not None else 0  # exact: a float loses the 100 ns
        names = [text for bit, text in ATTRIBUTES.items() if flags & bit]
        return Entry(name, path, kind, size, *times, names, mtime_ns, record)

    def named_streams(self, entry: Entry) -> List[str]:
        """The names of a file's alternate data streams (its named $DATA attributes, such as Zone.Identifier), which
        a restore does not write: the result names them, so that none is lost without a word."""
        if entry.kind != "file":
            return []
        try:
            return sorted({str(attribute.name) for attribute in entry.record.attributes.DATA if attribute.name})
        except CorruptionError:
            raise
        except Exception as exc:
            raise DataMoverError(f"cannot read the streams of {entry.path} on {self.label}: {exc}") from exc

    def open_data(self, entry: Entry) -> BinaryIO:
        """The unnamed data stream of a file (alternate data streams are not restored)."""
        if "encrypted" in entry.attributes:
            raise DataMoverError(
                f"{entry.path} on {self.label} is encrypted with EFS: its data can only be read in the guest"
            )
        if not entry.record.has_stream(""):
            return _Empty()
        return entry.record.open()

    def file_offset(self, entry: Entry, disk_start: int, disk_end: int, volume_offset: int) -> Optional[int]:
        """The first byte of ``entry``'s data that lies in disk bytes ``[disk_start, disk_end)``; None when the
        stretch holds none of its data runs (resident data, or metadata the library read for it)."""
        try:
            runs = entry.record.dataruns()
        except Exception:  # resident data: it lives in the MFT record, not in runs
            return None
        vcn, best = 0, None
        for lcn, count in runs:
            if lcn is not None:
                start = volume_offset + lcn * self.cluster_size
                end = start + count * self.cluster_size
                low, high = max(start, disk_start), min(end, disk_end)
                if low < high:
                    found = vcn * self.cluster_size + (low - start)
                    best = found if best is None else min(best, found)
            vcn += count
        return best


def _iso(info: Any, attribute: str) -> Optional[str]:
    if info is None:
        return None
    value: datetime = getattr(info, attribute)
    return value.astimezone(timezone.utc).isoformat()


class _Empty:
    """The data of a file that has no unnamed data stream."""

    def read(self, size: int = -1) -> bytes:
        return b""
