"""The chunk list of one stream held as runs: stretches of chunks of one kind, ids kept for DATA runs only.

A disk's chunk list costs what the disk holds, not its virtual size: a 64 TiB disk holding 5 MiB is three runs
(data, unallocated, data) and five ids, where one kind byte and one id slot per chunk took 2.2 GB. Adjacent runs
always differ in kind. Entries set one by one (a backup recording its reads, in disk order) wait in a small
batch that is merged into the runs in one pass, touching only the runs it spans.

A run's payload is what its chunks need besides their kind: the ids of a DATA run (CHUNK_ID_SIZE bytes each),
the patches of a PATCHED run (one encoded patch each, store/patches.py: a long chain of incrementals can
leave many chunks patched, and the encoding is a fifth of the objects' memory), nothing for the others. A
chunk's stored content is its *reference*: an id, a ``Patch``, or None (zero or unallocated).
"""

from __future__ import annotations

import array
import bisect
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    CHUNK_ID_SIZE,
    KIND_DATA,
    KIND_PATCHED,
    KIND_UNALLOCATED,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.patches import Patch, encode_patch, unpack

Ids = Union[bytes, bytearray, memoryview]
Payload = Union[Ids, Sequence[bytes]]  # a DATA run's ids, a PATCHED run's patches (each encoded)
Entry = Tuple[int, int, int, Optional[Payload]]  # start, end (excluded), kind, the run's payload (None: no payload)
Reference = Union[bytes, Patch, None]  # a chunk's stored content: an id, a patch, or None (zero, unallocated)
PENDING_LIMIT = 4096  # entries set but not merged yet: 164 KiB at most


class RunBuilder:
    """Runs appended in disk order; a run of the kind of the one before it extends it, a gap is unallocated."""

    def __init__(self, start: int = 0) -> None:
        self.starts = array.array("q")
        self.kinds = bytearray()
        self.ids: List[Optional[Union[bytearray, List[bytes]]]] = []  # each run's payload
        self.end = start

    def add(self, start: int, end: int, kind: int, ids: Optional[Payload] = None, own: bool = False) -> None:
        """Append [start, end) of ``kind`` with its payload ``ids``; ``own``: a DATA payload is a bytearray nobody
        else holds (kept, not copied)."""
        if start > self.end:
            self.add(self.end, start, KIND_UNALLOCATED)
        if end <= start:
            return
        _check_payload(start, end, kind, ids)
        if self.kinds and self.kinds[-1] == kind:
            if kind in (KIND_DATA, KIND_PATCHED):
                self.ids[-1] += ids  # type: ignore[operator]  # a DATA or PATCHED run always has its payload
        else:
            self.starts.append(start)
            self.kinds.append(kind)
            self.ids.append(_kept(kind, ids, own))
        self.end = end


def _check_payload(start: int, end: int, kind: int, ids: Optional[Payload]) -> None:
    if kind == KIND_DATA and (ids is None or len(ids) != (end - start) * CHUNK_ID_SIZE):
        raise ValueError(f"chunks {start} to {end} need {(end - start) * CHUNK_ID_SIZE} bytes of ids")
    if kind == KIND_PATCHED and (ids is None or len(ids) != end - start):
        raise ValueError(f"chunks {start} to {end} need {end - start} patches")


def _kept(kind: int, ids: Optional[Payload], own: bool) -> Optional[Union[bytearray, List[bytes]]]:
    """The payload a new run keeps: a copy unless ``own`` (runs of other kinds keep none)."""
    if kind == KIND_PATCHED:
        return list(ids)  # type: ignore[arg-type]  # checked: a PATCHED run has its patches
    if kind != KIND_DATA:
        return None
    return ids if own and isinstance(ids, bytearray) else bytearray(ids)  # type: ignore[arg-type]


class ChunkList:
    """Kinds and ids of the chunks of one stream (a disk or a file) on a fixed grid of ``chunk_size``."""

    def __init__(self, size: int, chunk_size: int) -> None:
        self.size = size
        self.chunk_size = chunk_size
        self.count = -(-size // chunk_size)
        self._pending_numbers = array.array("q")
        self._pending_kinds = bytearray()
        self._pending_ids = bytearray()
        self._pending_patches: List[Optional[bytes]] = []
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

    def set(self, number: int, kind: int, chunk_id: Optional[bytes] = None, patch: Optional[Patch] = None) -> None:
        """Chunk ``number`` is of ``kind``: a DATA chunk with ``chunk_id``, a PATCHED one with ``patch``."""
        if not 0 <= number < self.count:
            raise IndexError(f"chunk {number} is outside a list of {self.count}")
        if kind == KIND_PATCHED and patch is None:
            raise ValueError(f"patched chunk {number} needs its patch")
        self._pending_numbers.append(number)
        self._pending_kinds.append(kind)
        self._pending_ids += chunk_id if kind == KIND_DATA and chunk_id is not None else bytes(CHUNK_ID_SIZE)
        self._pending_patches.append(encode_patch(patch) if patch is not None and kind == KIND_PATCHED else None)
        if len(self._pending_numbers) >= PENDING_LIMIT:
            self._flush()

    def kind_of(self, number: int) -> int:
        self._flush()
        return self._kinds[self._run_at(number)]

    def id_of(self, number: int) -> Optional[bytes]:
        """The id of chunk ``number``, None when it is not DATA (a patch is not decoded for it)."""
        return None if self.kind_of(number) != KIND_DATA else self.reference_of(number)  # type: ignore[return-value]

    def reference_of(self, number: int) -> Reference:
        """What holds chunk ``number``'s content: its id (DATA), its patch (PATCHED), or None (zero, unallocated)."""
        self._flush()
        at = self._run_at(number)
        payload, kind = self._ids[at], self._kinds[at]
        if kind == KIND_PATCHED:
            return unpack(payload[number - self._starts[at]], self.chunk_size)  # type: ignore[index,arg-type]
        if kind != KIND_DATA:
            return None
        within = (number - self._starts[at]) * CHUNK_ID_SIZE
        return bytes(payload[within : within + CHUNK_ID_SIZE])  # type: ignore[index]

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
        return ((start, end, ids) for start, end, kind, ids in self.entries() if kind == KIND_DATA)  # type: ignore[misc]

    def stored_runs(self) -> Iterator[Tuple[int, int]]:
        """(start, end) of every run whose chunks have stored content (DATA and PATCHED), in disk order."""
        return ((start, end) for start, end, kind, _ids in self.entries() if kind in (KIND_DATA, KIND_PATCHED))

    def stored_chunks(self) -> Iterator[Tuple[int, Union[bytes, Patch]]]:
        """(chunk number, reference) of every chunk with stored content, DATA and PATCHED, in disk order."""
        for start, end, kind, payload in self.entries():
            if kind == KIND_PATCHED:
                for number, raw in zip(range(start, end), payload):  # type: ignore[arg-type]
                    yield number, unpack(raw, self.chunk_size)
            elif kind == KIND_DATA:
                yield from _numbered_ids(start, end, payload)  # type: ignore[arg-type]

    def blob_refs(self) -> Iterator[Tuple[int, bytes]]:
        """(chunk number, id) of every stored blob the list needs: DATA ids, and each patch's base and extents."""
        for number, reference in self.stored_chunks():
            if isinstance(reference, Patch):
                yield from ((number, chunk_id) for chunk_id in reference.blob_ids())
            else:
                yield number, reference

    def data_chunks(self) -> Iterator[Tuple[int, bytes]]:
        """(chunk number, id) of every stored chunk, in disk order."""
        for start, end, ids in self.data_runs():
            yield from _numbered_ids(start, end, ids)

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
            run_start, run_end, ids, kind = self._starts[at], self._run_end(at), self._ids[at], self._kinds[at]
            low, high = max(run_start, start), min(run_end, end)
            if ids is not None and (low, high) != (run_start, run_end):
                ids = payload_slice(kind, ids, low - run_start, high - run_start)
            yield low, high, kind, ids
            at += 1

    def _flush(self) -> None:
        """Merge the entries set since the last merge: rebuild the runs they touch and one neighbour each side."""
        numbers, kinds, ids = self._pending_numbers, self._pending_kinds, self._pending_ids
        patches = self._pending_patches
        if not numbers:
            return
        self._pending_numbers, self._pending_kinds, self._pending_ids = array.array("q"), bytearray(), bytearray()
        self._pending_patches = []
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
            builder.add(number, number + 1, kinds[entry], _pending_payload(kinds[entry], ids, patches, entry), own=True)
        for start, end, kind, run_ids in self._entries(builder.end, self._run_end(last)):
            builder.add(start, end, kind, run_ids, own=True)
        self._starts[first : last + 1] = builder.starts
        self._kinds[first : last + 1] = builder.kinds
        self._ids[first : last + 1] = builder.ids


def _pending_payload(kind: int, ids: bytearray, patches: List[Optional[bytes]], entry: int) -> Optional[Payload]:
    """The payload of pending entry ``entry`` as a one-chunk run's."""
    if kind == KIND_PATCHED:
        return [patches[entry]]  # type: ignore[list-item]  # set() refuses a PATCHED entry without its patch
    if kind == KIND_DATA:
        return ids[entry * CHUNK_ID_SIZE : (entry + 1) * CHUNK_ID_SIZE]
    return None


def payload_slice(kind: int, payload: Payload, first: int, end: int) -> Payload:
    """The payload of chunks [first, end) of a run (counted from the run's start): CHUNK_ID_SIZE bytes a chunk
    in a DATA run, one encoded patch a chunk in a PATCHED run."""
    width = CHUNK_ID_SIZE if kind == KIND_DATA else 1
    return payload[first * width : end * width]


def _numbered_ids(start: int, end: int, ids: Ids) -> Iterator[Tuple[int, bytes]]:
    """(chunk number, id) of each chunk of the DATA run [start, end) holding ``ids``."""
    for number in range(start, end):
        within = (number - start) * CHUNK_ID_SIZE
        yield number, bytes(ids[within : within + CHUNK_ID_SIZE])
