"""The chunk index: where each stored chunk lives (pack, offset, lengths), in memory and on disk.

In memory a compact bucketed table holds one 53-byte record per chunk (about 63 bytes with overheads).
On disk, ``index/<id>.idx`` envelopes each cover some packs; packs that no index file covers (a crash
before the index was written) are read from their own trailers.
"""

from __future__ import annotations

import struct
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import CorruptionError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    INDEX_ENTRY,
    INDEX_ENTRY_SIZE,
    INDEX_HEADER,
    PACK_ID_SIZE,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.pack import PackEntry


class Location(NamedTuple):
    pack_id: bytes
    offset: int
    stored_length: int
    raw_length: int
    flags: int


# In-memory record: id[32], pack number u32, offset u64, stored length u32, raw length u32, flags u8 (53 bytes).
RECORD = struct.Struct("<32sIQIIB")
INITIAL_BUCKETS = 1 << 10
MAX_LOAD = 24  # records per bucket on average before the table grows 4x


class Index:
    """Chunk id -> Location for every chunk in the packs loaded so far.

    Compact: records live in fixed-size slots of per-bucket bytearrays (about 60 bytes per chunk, against
    ~165 for a dict of bytes -> tuple), found with ``bytearray.find`` on the bucket that the id's first
    bytes select (ids are uniformly random hashes). Lookups are safe from worker threads while the
    calling thread adds packs: every mutation is a single C-level bytearray operation, and growing builds
    a new bucket list that replaces the old one in one assignment.
    """

    def __init__(self) -> None:
        self.pack_ids: List[bytes] = []
        self._pack_numbers: Dict[bytes, int] = {}
        self._buckets: List[bytearray] = [bytearray() for _ignored in range(INITIAL_BUCKETS)]
        self._count = 0

    def _bucket(self, chunk_id: bytes, buckets: Optional[List[bytearray]] = None) -> bytearray:
        buckets = self._buckets if buckets is None else buckets
        return buckets[int.from_bytes(chunk_id[:8], "little") & (len(buckets) - 1)]

    @staticmethod
    def _find(bucket: bytearray, chunk_id: bytes) -> int:
        position = bucket.find(chunk_id)
        while position >= 0 and position % RECORD.size:  # a match straddling two records
            position = bucket.find(chunk_id, position + 1)
        return position

    def add_pack(self, pack_id: bytes, entries: Iterable[PackEntry]) -> None:
        number = self._pack_numbers.get(pack_id)
        if number is None:
            number = self._pack_numbers[pack_id] = len(self.pack_ids)
            self.pack_ids.append(pack_id)
        for e in entries:
            record = RECORD.pack(e.chunk_id, number, e.offset, e.stored_length, e.raw_length, e.flags & 0xFF)
            bucket = self._bucket(e.chunk_id)
            position = self._find(bucket, e.chunk_id)
            if position >= 0:  # a newer copy (e.g. after a repack) replaces the old location
                bucket[position : position + RECORD.size] = record
                continue
            bucket += record
            self._count += 1
        if self._count > MAX_LOAD * len(self._buckets):
            self._grow()

    def _grow(self) -> None:
        buckets = [bytearray() for _ignored in range(len(self._buckets) * 4)]
        for bucket in self._buckets:
            for start in range(0, len(bucket), RECORD.size):
                record = bucket[start : start + RECORD.size]
                self._bucket(bytes(record[:32]), buckets).extend(record)
        self._buckets = buckets

    def __contains__(self, chunk_id: bytes) -> bool:
        return self._find(self._bucket(chunk_id), chunk_id) >= 0

    def contains_all(self, chunk_ids: Iterable[bytes]) -> bool:
        """True when every id is indexed (one call for a whole chunk list: a disk has millions of chunks)."""
        return all(map(self.__contains__, chunk_ids))

    def __len__(self) -> int:
        return self._count

    def has_pack(self, pack_id: bytes) -> bool:
        return pack_id in self._pack_numbers

    def lookup(self, chunk_id: bytes) -> Optional[Location]:
        bucket = self._bucket(chunk_id)
        position = self._find(bucket, chunk_id)
        if position < 0:
            return None
        _ignored, number, offset, stored, raw, flags = RECORD.unpack_from(bucket, position)
        return Location(self.pack_ids[number], offset, stored, raw, flags)

    def items(self) -> Iterator[Tuple[bytes, Location]]:
        for bucket in self._buckets:
            for chunk_id, number, offset, stored, raw, flags in RECORD.iter_unpack(bytes(bucket)):
                yield chunk_id, Location(self.pack_ids[number], offset, stored, raw, flags)

    def by_pack(self) -> Dict[bytes, List[PackEntry]]:
        """Group all entries by pack id."""
        grouped: Dict[bytes, List[PackEntry]] = {pack_id: [] for pack_id in self._pack_numbers}
        for chunk_id, loc in self.items():
            grouped[loc.pack_id].append(PackEntry(chunk_id, loc.offset, loc.stored_length, loc.raw_length, loc.flags))
        return grouped


def encode_index(packs: Dict[bytes, List[PackEntry]]) -> bytes:
    """Serialise packs and their entries: header, pack id table, entries (see the format doc)."""
    pack_ids = list(packs)
    parts = [INDEX_HEADER.pack(len(pack_ids), sum(len(v) for v in packs.values()))]
    parts.extend(pack_ids)
    for number, pack_id in enumerate(pack_ids):
        for e in packs[pack_id]:
            parts.append(INDEX_ENTRY.pack(e.chunk_id, number, e.offset, e.stored_length, e.raw_length, e.flags))
    return b"".join(parts)


def decode_index(payload: bytes, name: str) -> Dict[bytes, List[PackEntry]]:
    if len(payload) < INDEX_HEADER.size:
        raise CorruptionError(f"index {name} is truncated")
    pack_count, entry_count = INDEX_HEADER.unpack_from(payload)
    start = INDEX_HEADER.size + pack_count * PACK_ID_SIZE
    if len(payload) != start + entry_count * INDEX_ENTRY_SIZE:
        raise CorruptionError(f"index {name} has the wrong size")
    pack_ids = [
        payload[INDEX_HEADER.size + i * PACK_ID_SIZE : INDEX_HEADER.size + (i + 1) * PACK_ID_SIZE]
        for i in range(pack_count)
    ]
    packs: Dict[bytes, List[PackEntry]] = {pack_id: [] for pack_id in pack_ids}
    for chunk_id, number, offset, stored, raw, flags in INDEX_ENTRY.iter_unpack(payload[start:]):
        if number >= pack_count:
            raise CorruptionError(f"index {name} names pack number {number} of {pack_count}")
        packs[pack_ids[number]].append(PackEntry(chunk_id, offset, stored, raw, flags))
    return packs
