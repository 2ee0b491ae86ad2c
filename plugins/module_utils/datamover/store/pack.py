"""Pack files: many stored chunks (blobs) in one file, with the pack's own entry table at its end.

Layout: header (32 bytes: magic, version, flags, 16-byte pack id, reserved) | blobs | entry table |
trailer (64 bytes: magic, table offset, table length, entry count, SHA-256 of the table). The table is
sealed with the pack id as associated data when the repository is encrypted. The trailer makes every
pack self-describing, so a pack whose index was never written (crash) is still found and reused.
"""

from __future__ import annotations

import contextlib
import os
from typing import Callable, List, NamedTuple, Optional

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.diskio import open_pack_file
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import (
    CorruptionError,
    FormatVersionError,
    RepositoryError,
    WriterClosedError,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import (
    describe_os_error,
    make_private_dirs,
    remove_quietly,
    rename_durably,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    FORMAT_VERSION,
    PACK_ENTRY,
    PACK_ENTRY_SIZE,
    PACK_HEADER,
    PACK_HEADER_SIZE,
    PACK_ID_SIZE,
    PACK_MAGIC,
    PACK_TRAILER,
    PACK_TRAILER_MAGIC,
    PACK_TRAILER_SIZE,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.crypto import Sealer
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.hashing import sha256


class PackEntry(NamedTuple):
    chunk_id: bytes
    offset: int  # of the blob inside the pack file
    stored_length: int  # bytes on disk (compressed and/or sealed)
    raw_length: int  # plaintext bytes
    flags: int  # BLOB_FLAG_*


def pack_header(pack_id: bytes) -> bytes:
    return PACK_HEADER.pack(PACK_MAGIC, FORMAT_VERSION, 0, pack_id + bytes(20 - PACK_ID_SIZE))


def encode_table(entries: List[PackEntry], pack_id: bytes, sealer: Optional[Sealer]) -> bytes:
    table = b"".join(
        PACK_ENTRY.pack(e.chunk_id, e.offset, e.stored_length, e.raw_length, e.flags, bytes(4)) for e in entries
    )
    return sealer.seal(table, pack_id) if sealer is not None else table


class PackWriter:
    """Append blobs to a new pack under ``tmp_dir``; ``finish`` makes it durable at ``final_path``.

    After its first error the writer refuses further use, so a half-written pack is never published.
    ``before_publish`` runs right before the rename that publishes the pack; it raises to stop it (the
    repository's check that its writer still holds the lock).
    """

    def __init__(
        self,
        tmp_dir: str,
        final_path: str,
        pack_id: bytes,
        sealer: Optional[Sealer],
        before_publish: Callable[[], None] = lambda: None,
    ) -> None:
        self.pack_id = pack_id
        self._before_publish = before_publish
        self.final_path = final_path
        self._sealer = sealer
        self._tmp_path = os.path.join(tmp_dir, os.path.basename(final_path) + ".tmp")
        self._entries: List[PackEntry] = []
        self._failed: Optional[BaseException] = None
        self._file = None
        self._file = self._guard(lambda: open_pack_file(self._tmp_path))  # closed by finish or abort
        self._guard(lambda: self._file.append(pack_header(pack_id)))
        self.size = PACK_HEADER_SIZE

    def add(self, chunk_id: bytes, stored: bytes, raw_length: int, flags: int) -> PackEntry:
        self._check_usable()
        entry = PackEntry(chunk_id, self.size, len(stored), raw_length, flags)
        self._guard(lambda: self._file.append(stored))
        self._entries.append(entry)
        self.size += len(stored)
        return entry

    def __len__(self) -> int:
        return len(self._entries)

    def finish(self) -> List[PackEntry]:
        """Write table and trailer, fsync, rename into place, fsync the directory; return the entries."""
        self._check_usable()
        table = encode_table(self._entries, self.pack_id, self._sealer)
        trailer = PACK_TRAILER.pack(PACK_TRAILER_MAGIC, self.size, len(table), len(self._entries), 0, sha256(table))

        def commit() -> None:
            self._file.append(table + trailer)
            self._file.seal()
            self._close_file()
            self._before_publish()
            make_private_dirs(os.path.dirname(self.final_path))
            rename_durably(self._tmp_path, self.final_path)

        self._guard(commit)
        self._failed = WriterClosedError("the pack writer was already finished")
        return list(self._entries)

    def abort(self) -> None:
        """Drop the unfinished pack (idempotent)."""
        with contextlib.suppress(OSError):
            self._close_file()
        remove_quietly(self._tmp_path)
        if self._failed is None:
            self._failed = WriterClosedError("the pack writer was aborted")

    def _close_file(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()

    def _check_usable(self) -> None:
        if self._failed is not None:
            raise WriterClosedError(f"the pack writer refuses further use after an earlier error: {self._failed}")

    def _guard(self, step):  # noqa: ANN001 - tiny internal helper
        try:
            return step()
        except BaseException as exc:  # an OS error, or before_publish refusing: the pack is dropped either way
            self._failed = exc
            self.abort()
            if isinstance(exc, OSError):
                raise RepositoryError(describe_os_error("writing pack", self._tmp_path, exc)) from exc
            raise


def read_pack_entries(path: str, sealer: Optional[Sealer]) -> List[PackEntry]:
    """Read and check a pack's header, trailer and entry table (not the blobs)."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(PACK_HEADER_SIZE)
            size = handle.seek(0, os.SEEK_END)
            if len(header) < PACK_HEADER_SIZE or size < PACK_HEADER_SIZE + PACK_TRAILER_SIZE:
                raise CorruptionError(f"pack {path} is truncated")
            handle.seek(size - PACK_TRAILER_SIZE)
            trailer = handle.read(PACK_TRAILER_SIZE)
            magic, version, _ignored, reserved = PACK_HEADER.unpack(header)
            pack_id = reserved[:PACK_ID_SIZE]
            _check_header(path, magic, version)
            t_magic, t_offset, t_length, count, _ignored, digest = PACK_TRAILER.unpack(trailer)
            if t_magic != PACK_TRAILER_MAGIC or t_offset + t_length + PACK_TRAILER_SIZE != size:
                raise CorruptionError(f"pack {path} has a damaged trailer")
            handle.seek(t_offset)
            table = handle.read(t_length)
    except OSError as exc:
        raise CorruptionError(f"pack {path} cannot be read: {exc.strerror or exc}") from exc
    if sha256(table) != digest:
        raise CorruptionError(f"pack {path} has a damaged entry table")
    if sealer is not None:
        table = sealer.open(table, pack_id)
    if len(table) != count * PACK_ENTRY_SIZE:
        raise CorruptionError(f"pack {path} entry table has the wrong size")
    return [PackEntry(*fields[:5]) for fields in PACK_ENTRY.iter_unpack(table)]


def pack_id_of(path: str) -> bytes:
    """The pack id encoded in a pack's file name."""
    return bytes.fromhex(os.path.basename(path).split(".")[0])


def _check_header(path: str, magic: bytes, version: int) -> None:
    if magic != PACK_MAGIC:
        raise CorruptionError(f"pack {path} has a bad magic number")
    if version > FORMAT_VERSION:
        raise FormatVersionError(f"pack {path} has format version {version}, newer than this data mover")
