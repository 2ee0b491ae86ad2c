"""Quick rollback: a disk restored over an existing file of the same size and format writes only the chunks
whose content differs.

Worker threads read each chunk of the existing file (a chunk its allocation map shows unallocated or zero is
known to be zero without reading), hash it with the repository's chunk id function and compare it with the
restore point's chunk id; only a differing chunk is loaded from the repository (or, for a zero chunk, written
as zeros). The calling thread writes. The result is the restore point's content, byte for byte as a full
restore gives it; the file keeps its own identity and geometry (a VHDX is updated in place, disk/vhdx/update.py).

An interrupted rollback leaves the disk part old, part new: run it again (it writes only what still differs)
or restore in full. Every disk is checked (format, virtual size, sector size) before anything is written.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Tuple, Union

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import (
    O_BINARY,
    describe_os_error,
    pwrite_all,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.raw import RawSource
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import DiskSource
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.update import VhdxUpdate
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.writer import is_zero
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.opener import open_disk
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.pipeline import ordered_map
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.plan import chunk_kinds
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.stats import Stats
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store import spans
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.compress import Codec
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import KIND_DATA
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.patches import Patch
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import ChunkList
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.spans import contains, merged


@dataclass
class RollbackCounts:
    """What a rollback of one disk read and wrote, in bytes and chunks."""

    bytes_compared: int = 0  # bytes of the existing file read and hashed
    bytes_read: int = 0  # plaintext bytes loaded from the repository
    bytes_written: int = 0
    chunks_written: int = 0
    chunks_unchanged: int = 0


def rollback_problem(record: dict, path: str, fmt: str) -> Optional[str]:
    """Why the existing file at ``path`` cannot be rolled back to the disk ``record`` describes, or None."""
    try:
        with open_disk(path) as existing:
            return _mismatch(record, existing, fmt)
    except DataMoverError as exc:
        return f"{path} cannot be read as a disk ({exc})"


def _mismatch(record: dict, existing: DiskSource, fmt: str) -> Optional[str]:
    if existing.format != fmt:
        return f"{existing.path} is a {existing.format} disk, the restore writes {fmt}"
    if existing.virtual_size != record["virtual_size"]:
        return f"{existing.path} is {existing.virtual_size} bytes, the restore point's disk {record['virtual_size']}"
    logical = record.get("logical_sector_size", existing.logical_sector_size)
    if fmt == "vhdx" and existing.logical_sector_size != logical:
        return f"{existing.path} has {existing.logical_sector_size}-byte sectors, the restore point's disk {logical}"
    if existing.vhd_type == "differencing":
        return f"{existing.path} is a differencing disk (its content is partly its parent's)"
    return None


class RawUpdate:
    """An existing raw image written in place; ``source`` reads it."""

    def __init__(self, path: str) -> None:
        self.source = RawSource(path)
        try:
            self._fd = os.open(path, os.O_RDWR | O_BINARY)
        except OSError as exc:
            self.source.close()
            raise DataMoverError(describe_os_error("opening", path, exc)) from exc

    def write(self, offset: int, data: bytes) -> None:
        pwrite_all(self._fd, data, offset)

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
                self.source.close()


Target = Union[RawUpdate, VhdxUpdate]


class ChunkCompare:
    """For one chunk number: (offset, counts of this chunk, the bytes to write or None when unchanged)."""

    def __init__(self, repo: Repository, chunks: ChunkList, existing: DiskSource) -> None:
        self.repo, self.chunks, self.existing, self.codec = repo, chunks, existing, Codec(0)
        kinds = chunk_kinds(existing.extents(), chunks.size, chunks.chunk_size)
        self.existing_data = [(start, end) for start, end, kind in kinds if kind == KIND_DATA]
        # Only a chunk stored on either side can differ: the others are zero in both, and never visited.
        self.spans = merged(self.existing_data + list(chunks.stored_runs()))

    def __call__(self, number: int) -> Tuple[int, RollbackCounts, Optional[bytes]]:
        offset, length = self.chunks.chunk_range(number)
        counts = RollbackCounts()
        current = None  # None: the existing chunk is known to be zero
        if contains(self.existing_data, number):
            current = self.existing.read(offset, length)
            counts.bytes_compared = length
        reference = self.chunks.reference_of(number)
        if reference is None:
            same = current is None or is_zero(memoryview(current))
            return offset, counts, None if same else bytes(length)
        existing = current if current is not None else bytes(length)
        if isinstance(reference, bytes) and self.repo.digest(existing) == reference:
            return offset, counts, None
        data = self.repo.load_content(reference, length, self.codec)  # a patched chunk has no id of its content
        counts.bytes_read = len(data)
        if isinstance(reference, Patch) and data == existing:
            return offset, counts, None
        return offset, counts, data


def rolls_back(rollback: bool, record: dict, path: str) -> bool:
    """Whether this target is rolled back in place: a disk whose file exists, when rollback is asked."""
    return rollback and "virtual_size" in record and os.path.exists(path)


def rollback_stream(
    repo: Repository, chunks: ChunkList, path: str, fmt: str, pool: tuple, reach: Callable[[int], None], stats: Stats
) -> Dict[str, object]:
    """Roll the existing disk at ``path`` back to ``chunks``; ``pool``: (workers, executor or None); ``reach``: the
    progress of this stream. Returns the output's identity and its ``rollback`` counts."""
    target: Target = VhdxUpdate(path) if fmt == "vhdx" else RawUpdate(path)
    total = RollbackCounts()
    try:
        compare = ChunkCompare(repo, chunks, target.source)
        total.chunks_unchanged = chunks.count - spans.total(compare.spans)
        for offset, counts, data in ordered_map(spans.numbers(compare.spans), compare, pool[0], executor=pool[1]):
            if data is not None:
                target.write(offset, data)
                counts.bytes_written, counts.chunks_written = len(data), 1
            else:
                counts.chunks_unchanged = 1
            _add(total, counts)
            reach(offset + min(chunks.chunk_size, chunks.size - offset))
        identity = _identity(target.source)
    finally:
        target.close()
    stats.bytes_read += total.bytes_read
    return {**identity, "rollback": asdict(total)}


def _add(total: RollbackCounts, counts: RollbackCounts) -> None:
    for name, value in asdict(counts).items():
        setattr(total, name, getattr(total, name) + value)


def _identity(source: DiskSource) -> Dict[str, str]:
    if source.disk_id is None:
        return {}
    return {"disk_id": str(source.disk_id), "vhd_type": str(source.vhd_type)}


def refuse_mismatches(targets: List[Tuple[dict, str, str]], salvage: bool, overwrite: bool = False) -> Dict[str, str]:
    """Before anything is written: every existing disk to roll back matches its restore point disk. With
    ``overwrite``, a disk that does not is restored in full instead: returns {path: why} of those."""
    if salvage:
        raise DataMoverError("rollback and salvage cannot be combined: salvage a damaged restore point into a new file")
    problems = {}
    for record, path, fmt in targets:
        if rolls_back(True, record, path):
            problem = rollback_problem(record, path, fmt)
            if problem:
                problems[path] = f"disk {record['name']}: {problem}"
    if problems and not overwrite:
        raise DataMoverError(
            "rollback refused: " + "; ".join(problems.values()) + " (restore without rollback, into another folder, "
            "or with overwrite to restore such a disk in full)"
        )
    return problems
