"""Which restore points a set of damaged or missing chunks breaks, and where: the isolation of damage.

Chunks are shared between restore points (every later backup of a VM, and every VM with the same content,
reuses them), so one damaged chunk can break many points. Given the damaged chunk ids, each restore point is
described as intact or as the disks and files it would restore wrong, each with the byte ranges lost, and the
other points that share its damaged chunks: what verify reports, what ``forget`` acts on, and what a salvage
restore writes into its marker file.
"""

from __future__ import annotations

from typing import Container, Dict, Iterable, List, Mapping, Set, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import ChunkList

Range = Tuple[int, int]  # (offset, length) in bytes of a disk or file

INTACT = "intact"
DAMAGED = "damaged"
UNREADABLE = "unreadable"  # its record or chunk list cannot be read: nothing of it can be restored


def append_range(ranges: List[Range], offset: int, length: int) -> None:
    """Add a range after the last of ``ranges`` (in offset order), merged with it when they touch."""
    if ranges and sum(ranges[-1]) == offset:
        ranges[-1] = (ranges[-1][0], ranges[-1][1] + length)
    else:
        ranges.append((offset, length))


def lost_ranges(chunks: ChunkList, bad: Container[bytes]) -> List[Range]:
    """The byte ranges of ``chunks`` whose stored content (a chunk, or a patch's base or extent) is in ``bad``,
    neighbours merged."""
    ranges: List[Range] = []
    last = -1
    for number, chunk_id in chunks.blob_refs():
        if chunk_id in bad and number != last:  # a patch may name several bad blobs: its chunk is lost once
            append_range(ranges, *chunks.chunk_range(number))
            last = number
    return ranges


def damaged_parts(point: dict, streams: List[ChunkList], bad: Container[bytes]) -> List[dict]:
    """The disks and files of ``point`` that reference a chunk of ``bad``, each with its lost byte ranges."""
    parts = []
    for record in point["disks"] + point["files"]:
        ranges = lost_ranges(streams[record["stream"]], bad)
        if ranges:
            kind = "disk" if "virtual_size" in record else "file"
            parts.append({"name": record["name"], "kind": kind, "ranges": [list(r) for r in ranges]})
    return parts


def bad_ids_of(streams: Iterable[ChunkList], bad: Container[bytes]) -> Set[bytes]:
    return {chunk_id for stream in streams for _ignored, chunk_id in stream.blob_refs() if chunk_id in bad}


def point_states(
    selected: List[dict],
    streams_of: Mapping[str, List[ChunkList]],
    bad: Container[bytes],
    unreadable: Mapping[str, str],
) -> List[dict]:
    """One entry per restore point of ``selected`` (readable) and ``unreadable`` ({id: reason}): its state,
    its damaged disks and files, and ``shares_damage_with``: the other points (of every point in
    ``streams_of``) that reference one of its damaged chunks."""
    touched: Dict[str, Set[bytes]] = {pid: bad_ids_of(streams, bad) for pid, streams in streams_of.items()}
    states = []
    for point in selected:
        mine = touched.get(point["id"], set())
        entry = {"vm": point["vm"], "restore_point": point["id"], "state": DAMAGED if mine else INTACT}
        if mine:
            entry["parts"] = damaged_parts(point, streams_of[point["id"]], bad)
            entry["shares_damage_with"] = sorted(p for p, ids in touched.items() if p != point["id"] and ids & mine)
        states.append(entry)
    for point_id, reason in sorted(unreadable.items()):
        states.append({"vm": None, "restore_point": point_id, "state": UNREADABLE, "reason": reason})
    return states
