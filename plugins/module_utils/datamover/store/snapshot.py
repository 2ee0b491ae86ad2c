"""Restore points: the chunk list of each disk/file and the small JSON record that publishes them.

A chunk list is held and stored as runs of one kind (chunk_runs.py): its cost is what the disk holds, not its
virtual size; points written before runs (one kind byte per chunk) are still read. A list with patched chunks
(store/patches.py) is written in the encoding that adds their patches, any other in the one before it, so a
repository without patches stays readable by versions that predate them. A restore point is two files
in ``points/``: ``<id>.chunks`` (all its chunk lists) and, written last, ``<id>.point`` (JSON: VM, time, disks,
files, stats, and the SHA-256 of the chunk list file). The set of ``.point`` files is the catalog: a restore
point exists exactly when its record does.
"""

from __future__ import annotations

import struct
from typing import List, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.byteruns import byte_runs
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import CorruptionError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.chunk_runs import ChunkList, RunBuilder
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    CHUNK_ID_SIZE,
    KIND_DATA,
    KIND_PATCHED,
    KIND_UNALLOCATED,
    KIND_ZERO,
    STREAM_HEADER,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.patches import decode_patch

STREAM_COUNT = struct.Struct("<I")
# How a stream's entries follow its header, said by the header's third field (reserved, always 0, before runs):
KINDS_ENCODING = 0  # one kind byte per chunk, then the ids of the DATA chunks (still read: older points)
RUNS_ENCODING = 1  # a run count, (length, kind) per run, then the ids of the DATA chunks (written since)
PATCHES_ENCODING = 2  # as RUNS_ENCODING, then the patch of each PATCHED chunk (only lists that have one)
RUN_COUNT = struct.Struct("<Q")
RUN_ENTRY = struct.Struct("<QB")  # chunks in the run, their kind
KINDS = {
    KINDS_ENCODING: (KIND_DATA, KIND_ZERO, KIND_UNALLOCATED),
    RUNS_ENCODING: (KIND_DATA, KIND_ZERO, KIND_UNALLOCATED),
    PATCHES_ENCODING: (KIND_DATA, KIND_ZERO, KIND_UNALLOCATED, KIND_PATCHED),
}
# What a disk's record says of a VHDX's identity (run/streams.py); null in records written before it was kept.
IDENTITY_KEYS = ("disk_id", "vhd_type", "parent_locator")


def encode_stream(chunks: ChunkList) -> bytes:
    """A stream as RUNS_ENCODING, or PATCHES_ENCODING when it has patched chunks: its size costs nothing, only
    its runs, its DATA ids and its patches do."""
    runs = list(chunks.entries())
    table = b"".join(RUN_ENTRY.pack(end - start, kind) for start, end, kind, _ids in runs)
    ids = b"".join(bytes(ids) for _start, _end, kind, ids in runs if kind == KIND_DATA)  # type: ignore[arg-type]
    patches = b"".join(raw for _start, _end, kind, ids in runs if kind == KIND_PATCHED for raw in ids)  # type: ignore[union-attr]
    encoding = PATCHES_ENCODING if patches else RUNS_ENCODING
    header = STREAM_HEADER.pack(chunks.size, chunks.chunk_size, encoding) + RUN_COUNT.pack(len(runs))
    return header + table + ids + patches


def _take(payload: memoryview, position: int, length: int, name: str) -> memoryview:
    piece = payload[position : position + length]
    if len(piece) != length:
        raise CorruptionError(f"chunk list {name} is truncated")
    return piece


def _runs_table(payload: memoryview, position: int, name: str) -> Tuple[List[Tuple[int, int]], int]:
    """RUNS_ENCODING's (length, kind) table at ``position``; return it and the position after it."""
    (count,) = RUN_COUNT.unpack(_take(payload, position, RUN_COUNT.size, name))
    position += RUN_COUNT.size
    table = _take(payload, position, count * RUN_ENTRY.size, name)
    return list(RUN_ENTRY.iter_unpack(table)), position + len(table)


def _kinds_table(payload: memoryview, position: int, count: int, name: str) -> Tuple[List[Tuple[int, int]], int]:
    """KINDS_ENCODING's kind bytes at ``position`` as a (length, kind) table; and the position after them."""
    kinds = _take(payload, position, count, name)
    return [(end - start, kind) for start, end, kind in byte_runs(kinds)], position + count


def decode_stream(payload: memoryview, position: int, name: str) -> Tuple[ChunkList, int]:
    """Decode one stream (either encoding) at ``position``; return it and the position after it."""
    try:
        size, chunk_size, encoding = STREAM_HEADER.unpack_from(payload, position)
    except struct.error as exc:
        raise CorruptionError(f"chunk list {name} is truncated") from exc
    if chunk_size == 0:
        raise CorruptionError(f"chunk list {name} has chunk size 0")
    if encoding not in KINDS:
        raise CorruptionError(f"chunk list {name} has an unknown encoding {encoding} (written by a newer version?)")
    chunks = ChunkList(size, chunk_size)
    position += STREAM_HEADER.size
    if encoding == KINDS_ENCODING:
        table, position = _kinds_table(payload, position, chunks.count, name)
    else:
        table, position = _runs_table(payload, position, name)
    runs, start = [], 0
    for length, kind in table:
        if kind not in KINDS[encoding] or length == 0 or start + length > chunks.count:
            raise CorruptionError(f"chunk list {name} has a bad run at chunk {start}")
        ids = _take(payload, position, length * CHUNK_ID_SIZE, name) if kind == KIND_DATA else None
        position += len(ids) if ids is not None else 0
        runs.append((start, start + length, kind, ids))
        start += length
    if start != chunks.count:
        raise CorruptionError(f"chunk list {name} covers {start} of its {chunks.count} chunks")
    builder = RunBuilder()
    for start, end, kind, ids in runs:  # the patches follow all the ids: read them in run order now
        if kind == KIND_PATCHED:
            ids, position = _patches(payload, position, end - start, chunk_size, name)
        builder.add(start, end, kind, ids)
    chunks.adopt(builder)
    return chunks, position


def _patches(payload: memoryview, position: int, count: int, chunk_size: int, name: str) -> Tuple[list, int]:
    """``count`` patches at ``position``, each checked and kept encoded (as a chunk list holds them); and the
    position after them."""
    patches = []
    for _ignored in range(count):
        start = position
        _patch, position = decode_patch(payload, position, chunk_size, name)
        patches.append(bytes(payload[start:position]))
    return patches, position


def encode_chunk_lists(streams: List[ChunkList]) -> bytes:
    return STREAM_COUNT.pack(len(streams)) + b"".join(encode_stream(stream) for stream in streams)


def decode_chunk_lists(payload: bytes, name: str) -> List[ChunkList]:
    view = memoryview(payload)
    if len(view) < STREAM_COUNT.size:
        raise CorruptionError(f"chunk list {name} is truncated")
    (count,) = STREAM_COUNT.unpack_from(view)
    position = STREAM_COUNT.size
    streams = []
    for _ignored in range(count):
        stream, position = decode_stream(view, position, name)
        streams.append(stream)
    if position != len(view):
        raise CorruptionError(f"chunk list {name} has trailing bytes")
    return streams


def summary(point: dict) -> dict:
    """The catalog view of a restore point record (what list_restore_points returns)."""
    return {
        "id": point["id"],
        "time": point["time"],
        "disks": [
            {
                **{k: d[k] for k in ("name", "source", "format", "virtual_size", "chunk_size")},
                **{k: d.get(k) for k in ("change_id", *IDENTITY_KEYS)},
            }
            for d in point["disks"]
        ],
        "files": [{k: f[k] for k in ("name", "source", "size")} for f in point["files"]],
        "stats": point.get("stats", {}),
        "incremental": point.get("incremental", {}),  # per disk how it was read, and why a full read
    }


def baseline_summary(point: Optional[dict]) -> dict:
    """What the next incremental of a VM needs of its latest restore point (``baselines``): the RCT id recorded
    for each disk (null when none was given, or the point predates change ids) and its virtual size."""
    if point is None:
        return {"restore_point": None, "time": None, "disks": {}}
    disks = {d["name"]: {"change_id": d.get("change_id"), "size": d["virtual_size"]} for d in point["disks"]}
    return {"restore_point": point["id"], "time": point["time"], "disks": disks}
