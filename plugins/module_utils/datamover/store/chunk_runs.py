"""The chunk list of one stream held as runs: stretches of chunks of one kind, ids kept for DATA runs only.

A disk's chunk list costs what the disk holds, not its virtual size: a 64 TiB disk holding 5 MiB is three runs
(data, unallocated, data) and five ids, where one kind byte and one id slot per chunk took 2.2 GB. Adjacent runs
always differ in kind. Entries set one by one (a backup recording its reads, in disk order) wait in a small
batch that is merged into the runs in one pass, touching only the runs it spans.
"""

from __future__ import annotations

import array
import bisect
from typing import Iterable, Iterator, List, Optional, Tuple, Union

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    CHUNK_ID_SIZE,
    KIND_DATA,
    KIND_UNALLOCATED,
)

Ids = Union[bytes, bytearray, memoryview]
Entry = Tuple[int, int, int, Optional[Ids]]  # start, end (excluded), kind, the ids of a DATA run
PENDING_LIMIT = 4096  # entries set but not merged yet: 164 KiB at most


class RunBuilder:
    """Runs appended in disk order; a run of the kind of the one before it extends it, a gap is unallocated."""

    def __init__(self, start: int = 0) -> None:
        self.starts = array.array("q")
        self.kinds = bytearray()
        self.ids: List[Optional[bytearray]] = []
        self.end = start

    def add(self, start: int, end: int, kind: int, ids: Optional[Ids] = None, own: bool = False) -> None:
        """Append [start, end) of ``kind``; ``own``: ``ids`` is a bytearray nobody else holds (kept, not copied)."""
        if start > self.end:
            self.add(self.end, start, KIND_UNALLOCATED)
        if end <= start:
            return
        if kind == KIND_DATA and (ids is None or len(ids) != (end - start) * CHUNK_ID_SIZE):
            raise ValueError(f"chunks {start} to {end} need {(end - start) * CHUNK_ID_SIZE} bytes of ids")
        if self.kinds and self.kinds[-1] == kind:
            if kind == KIND_DATA:
                self.ids[-1] += ids  # type: ignore[operator]  # a DATA run always has its ids
        else:
            self.starts.append(start)
            self.kinds.append(kind)
            keep = ids if own and isinstance(ids, bytearray) else bytearray(ids) if ids is not None else None
            self.ids.append(keep if kind == KIND_DATA else None)
        self.end = end


class ChunkList:
    """Kinds and ids of the chunks of one stream (a disk or a file) on a fixed grid of ``chunk_size``."""

    def __init__(self, size: int, chunk_size: int) -> None:
        self.size = size
        self.chunk_size = chunk_size
        self.count = -(-size // chunk_size)
        self._pending_numbers = array.array("q")
        self._pending_kinds = bytearray()
        self._pending_ids = bytearray()
        self.adopt(RunBuilder())

    @classmethod
    def of_entries(cls, size: int, chunk_size: int, entries: Iterable[Entry]) -> ChunkList:
        """A list from entries in disk order (gaps unallocated); ids are copied."""
        chunks = cls(size, chunk_size)
        builder = RunBuilder()
        for start, end, kind, ids in entries:
            builder.add(start, end, kind, ids)
        chunks.adopt(builder)
        return chunks

    def adopt(self, builder: RunBuilder) -> None:
        """Take the builder's runs (the rest of the grid unallocated) as this list's."""
        builder.add(builder.end, self.count, KIND_UNALLOCATED)
        if builder.end != self.count:
            raise ValueError(f"runs end at chunk {builder.end}, the grid at {self.count}")
        self._starts, self._kinds, self._ids = builder.starts, builder.kinds, builder.ids

    # --- one chunk ---------------------------------------------------------------------------------------------
    def chunk_range(self, number: int) -> Tuple[int, int]:
        """Byte offset and length of chunk ``number`` (the last one may be short)."""
        offset = number * self.chunk_size
        return offset, min(self.chunk_size, self.size - offset)

    def set(self, number: int, kind: int, chunk_id: Optional[bytes] = None) -> None:
        if not 0 <= number < self.count:
            raise IndexError(f"chunk {number} is outside a list of {self.count}")
        self._pending_numbers.append(number)
        self._pending_kinds.append(kind)
        self._pending_ids += chunk_id if kind == KIND_DATA and chunk_id is not None else bytes(CHUNK_ID_SIZE)
        if len(self._pending_numbers) >= PENDING_LIMIT:
            self._flush()

    def kind_of(self, number: int) -> int:
        self._flush()
        return self._kinds[self._run_at(number)]

    def id_of(self, number: int) -> Optional[bytes]:
        """The id of chunk ``number``, None when it is not DATA."""
        self._flush()
        at = self._run_at(number)
        ids = self._ids[at]
        if ids is None:
            return None
        within = (number - self._starts[at]) * CHUNK_ID_SIZE
        return bytes(ids[within : within + CHUNK_ID_SIZE])

    # --- runs ----------------------------------------------------------------------------------------------------
    def entries(self, start: int = 0, end: Optional[int] = None) -> Iterator[Entry]:
        """The runs over [start, end) (default: the whole grid), clipped to it, with the ids of DATA runs."""
        self._flush()
        return self._entries(start, self.count if end is None else end)

    def runs(self) -> Iterator[Tuple[int, int, int]]:
        """(start, end, kind) of every run, in disk order."""
        return ((start, end, kind) for start, end, kind, _ids in self.entries())

    def data_runs(self) -> Iterator[Tuple[int, int, Ids]]:
        """(start, end, ids) of every DATA run; ``ids`` holds CHUNK_ID_SIZE bytes per chunk."""
        return ((start, end, ids) for start, end, kind, ids in self.entries() if ids is not None)

    def data_chunks(self) -> Iterator[Tuple[int, bytes]]:
        """(chunk number, id) of every stored chunk, in disk order."""
        for start, end, ids in self.data_runs():
            for number in range(start, end):
                within = (number - start) * CHUNK_ID_SIZE
                yield number, bytes(ids[within : within + CHUNK_ID_SIZE])

    def count_of(self, kind: int) -> int:
        return sum(end - start for start, end, each in self.runs() if each == kind)

    def covered_bytes(self, kind: int) -> int:
        """Bytes of the chunks of ``kind`` (the last chunk may be short)."""
        covered, last = 0, None
        for start, end, each in self.runs():
            if each == kind:
                covered += (end - start) * self.chunk_size
            last = each
        if last == kind:
            covered -= self.count * self.chunk_size - self.size
        return covered

    def bytes_of(self, spans: Iterable[Tuple[int, int]]) -> int:
        """Bytes of the chunks in ``spans`` (sorted, disjoint chunk numbers; the last chunk may be short)."""
        covered, last_end = 0, 0
        for start, end in spans:
            covered += (end - start) * self.chunk_size
            last_end = end
        if last_end == self.count and covered:
            covered -= self.count * self.chunk_size - self.size
        return covered

    # --- inside --------------------------------------------------------------------------------------------------
    def _run_at(self, number: int) -> int:
        if not 0 <= number < self.count:
            raise IndexError(f"chunk {number} is outside a list of {self.count}")
        return bisect.bisect_right(self._starts, number) - 1

    def _run_end(self, at: int) -> int:
        return self._starts[at + 1] if at + 1 < len(self._starts) else self.count

    def _entries(self, start: int, end: int) -> Iterator[Entry]:
        if start >= end:
            return
        at = bisect.bisect_right(self._starts, start) - 1
        while at < len(self._starts) and self._starts[at] < end:
            run_start, run_end, ids = self._starts[at], self._run_end(at), self._ids[at]
            low, high = max(run_start, start), min(run_end, end)
            if ids is not None and (low, high) != (run_start, run_end):
                ids = ids[(low - run_start) * CHUNK_ID_SIZE : (high - run_start) * CHUNK_ID_SIZE]
            yield low, high, self._kinds[at], ids
            at += 1

    def _flush(self) -> None:
        """Merge the entries set since the last merge: rebuild the runs they touch and one neighbour each side."""
        numbers, kinds, ids = self._pending_numbers, self._pending_kinds, self._pending_ids
        if not numbers:
            return
        self._pending_numbers, self._pending_kinds, self._pending_ids = array.array("q"), bytearray(), bytearray()
        order = sorted(range(len(numbers)), key=numbers.__getitem__)  # stable: of two for one chunk, the last wins
        first = max(0, self._run_at(numbers[order[0]]) - 1)
        last = min(len(self._starts) - 1, self._run_at(numbers[order[-1]]) + 1)
        builder = RunBuilder(self._starts[first])
        for place, entry in enumerate(order):
            number = numbers[entry]
            if place + 1 < len(order) and numbers[order[place + 1]] == number:
                continue
            for start, end, kind, run_ids in self._entries(builder.end, number):
                builder.add(start, end, kind, run_ids, own=True)  # our own runs: kept, or sliced (a copy)
            entry_id = ids[entry * CHUNK_ID_SIZE : (entry + 1) * CHUNK_ID_SIZE]
            builder.add(number, number + 1, kinds[entry], entry_id if kinds[entry] == KIND_DATA else None, own=True)
        for start, end, kind, run_ids in self._entries(builder.end, self._run_end(last)):
            builder.add(start, end, kind, run_ids, own=True)
        self._starts[first : last + 1] = builder.starts
        self._kinds[first : last + 1] = builder.kinds
        self._ids[first : last + 1] = builder.ids
