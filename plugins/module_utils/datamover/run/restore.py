"""Restore a restore point: every disk as raw or VHDX, every VM file as itself, into a destination folder.

Worker threads read each stored chunk, open (authenticate), decompress and re-hash it; the calling thread
writes verified bytes only. A damaged or missing chunk stops the restore with an error naming the disk and
offset, and the unfinished output is removed; a salvage restore writes the rest and marks what it lost
(run/salvage.py).
"""

from __future__ import annotations

import os
from concurrent.futures import Executor
from typing import Callable, Dict, List, Optional, Tuple, Union

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import CorruptionError, DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import describe_os_error
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.outputs import open_output, output_name
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.pipeline import ordered_map
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.restore_rollback import (
    refuse_mismatches,
    rollback_stream,
    rolls_back,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.salvage import Salvage, salvage_warning
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.stats import Stats
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import RestoreEntry
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.catalog import chunk_lists, find_point
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.compress import Codec
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import RESTORE_FORMATS
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.patches import Patch
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import ChunkList


class ChunkLoader:
    """Fetch and verify chunks of one stream (thread-safe); errors name the stream and the offset."""

    def __init__(self, repo: Repository, label: str, chunks: ChunkList, salvage: bool = False) -> None:
        self.repo, self.label, self.chunks, self.salvage = repo, label, chunks, salvage
        self.codec = Codec(0)

    def __call__(self, item: Tuple[int, Union[bytes, Patch]]) -> Tuple[int, Union[bytes, CorruptionError]]:
        """(offset, plaintext); with ``salvage``, (offset, the error) for a chunk that cannot be read."""
        number, reference = item
        offset, length = self.chunks.chunk_range(number)
        try:
            return offset, self.repo.load_content(reference, length, self.codec)
        except CorruptionError as exc:
            error = CorruptionError(f"{self.label} at offset {offset}: {exc}")
            if self.salvage:
                return offset, error
            raise error from exc


def _targets(point: dict, destination: str, fmt: str) -> List[Tuple[dict, str, str]]:
    """(record, output path, output format) for each disk and file of the point."""
    targets, taken = [], set()
    for record in point["disks"] + point["files"]:
        is_disk = "virtual_size" in record
        name = output_name(record, fmt) if is_disk else record["name"]
        if name in taken:  # e.g. disk.vhdx and disk.avhdx: keep the full source name
            name = f"{record['name']}.{fmt}"
        taken.add(name)
        targets.append((record, os.path.join(destination, name), fmt if is_disk else "raw"))
    return targets


def restore_into(
    repo: Repository,
    entry: RestoreEntry,
    *,
    progress: Optional[Callable[[int, int], None]] = None,
    workers: int = 1,
    executor: Optional[Executor] = None,
) -> dict:
    """Restore ``entry``'s restore point into its destination folder from an opened, locked and indexed
    repository (see session.py)."""
    vm, destination, restore_point, format = entry.vm, entry.destination, entry.restore_point, entry.format
    if format not in RESTORE_FORMATS:
        raise DataMoverError(f"unknown restore format {format!r}; choose one of {', '.join(RESTORE_FORMATS)}")
    point = find_point(repo, vm, restore_point)
    streams = chunk_lists(repo, point)
    targets = _targets(point, destination, format)
    existing = [path for _ignored, path, _ignored in targets if os.path.exists(path)]
    if existing and not (entry.overwrite or entry.rollback):
        raise DataMoverError(f"destination exists: {', '.join(existing)} (set overwrite to replace)")
    full = refuse_mismatches(targets, entry.salvage, entry.overwrite) if entry.rollback else {}
    os.makedirs(destination, exist_ok=True)
    stats = Stats(bytes_logical=sum(s.size for s in streams))
    meter = Meter(stats.bytes_logical, progress)
    written, damaged = [], []
    for record, path, fmt in targets:
        stream = streams[record["stream"]]
        salvage = Salvage() if entry.salvage else None
        if rolls_back(entry.rollback, record, path) and path not in full:
            identity = rollback_stream(repo, stream, path, fmt, (workers, executor), meter.reach, stats)
        else:
            identity = _restore_stream(repo, record, stream, path, fmt, (workers, executor), stats, meter, salvage)
            identity.update({"full_restore": full[path]} if path in full else {})
        meter.advance(stream.size - meter.stream_done)
        written.append({"name": record["name"], "path": path, "format": fmt, "size": stream.size, **identity})
        lost = salvage.finish(path, point, record["name"]) if salvage is not None else None
        damaged += [lost] if lost else []
    reply = {
        "changed": True,
        "restore_point": point["id"],
        "vm": point["vm"],
        "outputs": written,
        "stats": stats.stop().to_dict(),
    }
    return dict(reply, damaged=damaged, warnings=[salvage_warning(damaged)]) if damaged else reply


class Meter:
    """Progress in logical bytes: a stream's zero chunks count when the next data chunk after them is written."""

    def __init__(self, total: int, progress: Optional[Callable[[int, int], None]]) -> None:
        self.total, self.progress, self.done, self.stream_done = total, progress, 0, 0

    def advance(self, amount: int) -> None:
        self.done += amount
        self.stream_done = 0
        if self.progress is not None:
            self.progress(self.done, self.total)

    def reach(self, position: int) -> None:
        """The current stream is written up to ``position``."""
        self.done += position - self.stream_done
        self.stream_done = position
        if self.progress is not None:
            self.progress(self.done, self.total)


def _restore_stream(
    repo: Repository,
    record: dict,
    chunks: ChunkList,
    path: str,
    fmt: str,
    pool: tuple,
    stats: Stats,
    meter: Meter,
    salvage: Optional[Salvage] = None,
) -> Dict[str, str]:
    """``pool``: (workers, shared executor or None); ``salvage``: where unreadable chunks are noted (they stay
    zero) instead of stopping the restore. Returns what the written disk says of itself (outputs.py)."""
    kind = "disk" if "virtual_size" in record else "file"
    output = open_output(path, fmt, record if kind == "disk" else {"virtual_size": chunks.size})
    try:
        loader = ChunkLoader(repo, f"{kind} {record['name']}", chunks, salvage is not None)
        for offset, data in ordered_map(chunks.stored_chunks(), loader, pool[0], executor=pool[1]):
            if isinstance(data, CorruptionError):
                salvage.note(offset, min(chunks.chunk_size, chunks.size - offset), str(data))
                continue
            output.write(offset, data)
            stats.bytes_read += len(data)
            meter.reach(offset + len(data))
        identity = output.identity()
        output.commit()
    except OSError as exc:
        output.discard()
        raise DataMoverError(describe_os_error("writing", path, exc)) from exc
    except BaseException:
        output.discard()
        raise
    return identity
