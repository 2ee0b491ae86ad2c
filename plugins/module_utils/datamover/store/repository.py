"""An opened repository: its key, packs, index files and restore point files (creating one: layout.py).

Commit order of a backup (see docs/datamover-format.md): packs (durable) -> index file -> chunk list file
-> restore point record. Readers trust only what a record names; writers reuse any durable pack, indexed
or not (packs carry their own entry table).

A writer checks that it still holds its exclusive lock (``ensure_held``) right before each step that makes
something durable: publishing a pack, an index file, a chunk list or restore point record, and each
deletion. A run that lost its lock (frozen past its lease, or its lock taken over) publishes nothing more.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from typing import Dict, List, Optional, Union

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import (
    CorruptionError,
    PassphraseError,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import (
    O_BINARY,
    fsync_dir,
    pread,
    publish,
    read_file,
    remove_quietly,
    start_reading,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store import constants as C
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.blob import decode_blob
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.compress import Codec
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.crypto import (
    MasterKey,
    Sealer,
    unlock_key_file,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.envelope import open_envelope, seal_envelope
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.hashing import make_chunk_hasher, sha256
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.index import (
    Index,
    Location,
    decode_index,
    encode_index,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.layout import read_config
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock import LockLostError, RepositoryLock
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock_holder import STALE_AFTER
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.pack import (
    PackEntry,
    PackWriter,
    pack_id_of,
    read_pack_entries,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.patches import Patch, assemble


class Repository:
    """An opened repository: its keys, its index, and typed access to its files."""

    def __init__(self, path: str, passphrase: Optional[str] = None, master: Optional[MasterKey] = None) -> None:
        """``master``: the key already unwrapped (by ``create_layout``), so scrypt does not run again."""
        self.path = path
        self.config = read_config(path)
        self.sealer: Optional[Sealer] = None
        id_key = None
        if self.config.get("encryption"):
            master = master or unlock_key_file(read_file(self._p(C.KEY_FILE)), passphrase)
            self.sealer = Sealer(self.config["encryption"], master.data_key)
            id_key = master.id_key
        elif passphrase:
            raise PassphraseError(f"the repository at {path} is not encrypted, but a passphrase was given")
        self.hash_algorithm = self.config["hash"]
        self.digest = make_chunk_hasher(self.hash_algorithm, id_key)
        self.index = Index()
        self.unindexed: Dict[bytes, List[PackEntry]] = {}
        self.damaged_index_files: List[str] = []
        self._fds: Dict[bytes, int] = {}
        self._fd_lock = threading.Lock()
        # restore point records are never rewritten, and the lock keeps writers out while this is open: a job
        # backing up many VMs reads each record once, not once per VM
        self._point_records: Dict[str, bytes] = {}
        self._writer_lock: Optional[RepositoryLock] = None  # the exclusive lock this object writes under
        # backups running at once in one job (slots) commit in turn: index files, ``unindexed``, the index
        self.commit_lock = threading.Lock()

    def _p(self, *parts: str) -> str:
        return os.path.join(self.path, *parts)

    @property
    def tmp_dir(self) -> str:
        return self._p(C.TMP_DIR)

    def lock(self, exclusive: bool, timeout: float, operation: str, stale_after: float = STALE_AFTER) -> RepositoryLock:
        """The lock ``operation`` takes (named in its record); an exclusive one guards this object's writes.

        ``stale_after``: tests pass a short one, so that losing the lock takes a moment, not minutes."""
        lock = RepositoryLock(self._p(C.LOCKS_DIR), exclusive, timeout, operation=operation, stale_after=stale_after)
        if exclusive:
            self._writer_lock = lock
        return lock

    def ensure_held(self) -> None:
        """Raise ``LockLostError`` once the writer lost its exclusive lock; called before each durable step.

        Costs a mutex, a clock read and a read of the small lock file: it runs per pack, index file, restore
        point and deletion, never per chunk. A repository written without a lock (a test's) is not checked."""
        if self._writer_lock is not None:
            self._writer_lock.ensure_held()

    def holds_lock(self) -> bool:
        """False once the writer lost its lock: then even its own unindexed packs are no longer its to delete
        (the new holder may be indexing them, as it does a crashed run's)."""
        try:
            self.ensure_held()
        except LockLostError:
            return False
        return True

    # --- packs and index ----------------------------------------------------------------------------------------
    def pack_path(self, pack_id: bytes) -> str:
        name = pack_id.hex()
        return self._p(C.PACKS_DIR, name[:2], name + C.PACK_SUFFIX)

    def pack_ids_on_disk(self) -> List[bytes]:
        found = []
        for sub in sorted(os.listdir(self._p(C.PACKS_DIR))):
            folder = self._p(C.PACKS_DIR, sub)
            if os.path.isdir(folder):
                found.extend(pack_id_of(n) for n in sorted(os.listdir(folder)) if n.endswith(C.PACK_SUFFIX))
        return found

    def index_files(self) -> List[str]:
        return sorted(n for n in os.listdir(self._p(C.INDEX_DIR)) if n.endswith(C.INDEX_SUFFIX))

    def read_index_file(self, name: str) -> Dict[bytes, List[PackEntry]]:
        data = read_file(self._p(C.INDEX_DIR, name))
        return decode_index(open_envelope(C.INDEX_MAGIC, data, self.sealer, f"index {name}"), name)

    def load_index(self) -> Index:
        """Load every index file, then every pack no index covers (found by its own trailer)."""
        for name in self.index_files():
            try:
                packs = self.read_index_file(name)
            except CorruptionError:  # only a cache of pack trailers: its packs are scanned below; verify reports it
                self.damaged_index_files.append(name)
                continue
            for pack_id, entries in packs.items():
                self.index.add_pack(pack_id, entries)
        for pack_id in self.pack_ids_on_disk():
            if not self.index.has_pack(pack_id):
                try:
                    entries = read_pack_entries(self.pack_path(pack_id), self.sealer)
                except CorruptionError:
                    continue  # an unreadable unindexed pack is referenced by nothing durable: ignore it
                self.index.add_pack(pack_id, entries)
                self.unindexed[pack_id] = entries
        return self.index

    def write_index(self, packs: Dict[bytes, List[PackEntry]]) -> str:
        name = os.urandom(16).hex() + C.INDEX_SUFFIX
        payload = seal_envelope(C.INDEX_MAGIC, encode_index(packs), self.sealer)
        self.ensure_held()
        publish(self._p(C.INDEX_DIR, name), payload, self.tmp_dir)
        return name

    def new_pack_writer(self) -> PackWriter:
        pack_id = os.urandom(C.PACK_ID_SIZE)
        return PackWriter(self.tmp_dir, self.pack_path(pack_id), pack_id, self.sealer, before_publish=self.ensure_held)

    def read_blob(self, pack_id: bytes, offset: int, length: int) -> bytes:
        """Read stored bytes; a missing or short pack is a CorruptionError."""
        fd = self._held_pack(pack_id)
        if fd is None:  # enough packs are held open: this one only for this read
            fd = self._open_pack(pack_id)
            try:
                return self._pread_blob(fd, pack_id, offset, length)
            finally:
                os.close(fd)
        return self._pread_blob(fd, pack_id, offset, length)

    def prefetch_blob(self, pack_id: bytes, offset: int, length: int) -> None:
        """Ask the system to start reading stored bytes now, so that a later ``read_blob`` of them does not wait
        for the disk: a hint only, it neither waits nor fails (a missing pack is ``read_blob``'s to report).

        Packs are written with direct I/O (base/diskio.py), so an incremental's baseline chunks are on the disk,
        not in the page cache; hinted a window ahead, their reads queue at the disk together."""
        with contextlib.suppress(CorruptionError):
            fd = self._held_pack(pack_id)
            if fd is not None:
                start_reading(fd, offset, length)

    def _held_pack(self, pack_id: bytes) -> Optional[int]:
        """The pack's descriptor held open for the session; None once ``MAX_OPEN_PACKS`` are held."""
        with self._fd_lock:
            fd = self._fds.get(pack_id)
            if fd is None and len(self._fds) < C.MAX_OPEN_PACKS:
                fd = self._fds[pack_id] = self._open_pack(pack_id)
        return fd

    def _open_pack(self, pack_id: bytes) -> int:
        try:
            return os.open(self.pack_path(pack_id), os.O_RDONLY | O_BINARY)
        except OSError as exc:
            raise CorruptionError(f"pack {pack_id.hex()} is missing or unreadable: {exc.strerror}") from exc

    @staticmethod
    def _pread_blob(fd: int, pack_id: bytes, offset: int, length: int) -> bytes:
        data = pread(fd, length, offset)
        if len(data) != length:
            raise CorruptionError(f"pack {pack_id.hex()} is truncated at offset {offset}")
        return data

    def load_chunk(self, chunk_id: bytes, codec: Codec) -> bytes:
        """The verified plaintext of a stored chunk; a missing or damaged chunk is a CorruptionError."""
        location = self.index.lookup(chunk_id)
        if location is None:
            raise CorruptionError(f"chunk {chunk_id.hex()} is missing from the repository")
        stored = self.read_blob(location.pack_id, location.offset, location.stored_length)
        return decode_blob(stored, chunk_id, location.raw_length, location.flags, codec, self.sealer, self.digest)

    def locations_of(self, reference: Union[bytes, Patch]) -> List[Location]:
        """Where the stored blobs of a chunk's content are (each once; a blob the index lacks is left out)."""
        blobs = dict.fromkeys(reference.blob_ids()) if isinstance(reference, Patch) else (reference,)
        found = (self.index.lookup(chunk_id) for chunk_id in blobs)
        return [location for location in found if location is not None]

    def load_content(self, reference: Union[bytes, Patch], length: int, codec: Codec) -> bytes:
        """The verified plaintext of a chunk of ``length`` bytes stored as ``reference``: one stored chunk, or
        a patch's base and extents (store/patches.py); a missing or damaged part is a CorruptionError."""
        if isinstance(reference, Patch):
            return bytes(assemble(reference, length, lambda chunk_id: self.load_chunk(chunk_id, codec)))
        return self.load_chunk(reference, codec)

    def close(self) -> None:
        with self._fd_lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()

    def clean_tmp(self) -> None:
        """Remove leftovers of interrupted writers (call only under the exclusive lock)."""
        for name in os.listdir(self.tmp_dir):
            remove_quietly(os.path.join(self.tmp_dir, name))

    # --- restore points -----------------------------------------------------------------------------------------
    def point_ids(self) -> List[str]:
        names = os.listdir(self._p(C.POINTS_DIR))
        return sorted(n[: -len(C.POINT_SUFFIX)] for n in names if n.endswith(C.POINT_SUFFIX))

    def read_point(self, point_id: str) -> dict:
        record = self._point_records.get(point_id)
        if record is None:
            data = read_file(self._p(C.POINTS_DIR, point_id + C.POINT_SUFFIX))
            record = open_envelope(C.POINT_MAGIC, data, self.sealer, f"restore point {point_id}")
            self._point_records[point_id] = record
        return json.loads(record)  # a new dict each time: callers may change theirs

    def read_chunk_payload(self, point: dict) -> bytes:
        name = point["chunk_list"]["file"]
        data = read_file(self._p(C.POINTS_DIR, name))
        if sha256(data).hex() != point["chunk_list"]["sha256"]:
            raise CorruptionError(f"chunk list of restore point {point['id']} is damaged")
        return open_envelope(C.CHUNK_LIST_MAGIC, data, self.sealer, f"chunk list of {point['id']}")

    def read_chunk_payload_without_record(self, point_id: str) -> bytes:
        """The chunk lists of a point whose record cannot be read, found by their file name: checked by the
        envelope's own digest (the record, which holds the file's SHA-256 too, is what cannot be read)."""
        data = read_file(self._p(C.POINTS_DIR, point_id + C.CHUNKS_SUFFIX))
        return open_envelope(C.CHUNK_LIST_MAGIC, data, self.sealer, f"chunk list of {point_id}")

    def write_point(self, point: dict, chunk_payload: bytes) -> None:
        """Chunk lists first, the record last: the record's presence is the commit."""
        chunk_file = seal_envelope(C.CHUNK_LIST_MAGIC, chunk_payload, self.sealer)
        name = point["id"] + C.CHUNKS_SUFFIX
        self.ensure_held()
        publish(self._p(C.POINTS_DIR, name), chunk_file, self.tmp_dir)
        point["chunk_list"] = {"file": name, "sha256": sha256(chunk_file).hex()}
        plaintext = json.dumps(point).encode()
        record = seal_envelope(C.POINT_MAGIC, plaintext, self.sealer)
        self.ensure_held()
        publish(self._p(C.POINTS_DIR, point["id"] + C.POINT_SUFFIX), record, self.tmp_dir)
        self._point_records[point["id"]] = plaintext

    def delete_point(self, point_id: str) -> None:
        """Record first (the point disappears atomically), then its chunk lists."""
        self.ensure_held()
        self._point_records.pop(point_id, None)
        remove_quietly(self._p(C.POINTS_DIR, point_id + C.POINT_SUFFIX))
        fsync_dir(self._p(C.POINTS_DIR))
        remove_quietly(self._p(C.POINTS_DIR, point_id + C.CHUNKS_SUFFIX))

    def orphan_chunk_lists(self) -> List[str]:
        ids = set(self.point_ids())
        names = os.listdir(self._p(C.POINTS_DIR))
        return [n for n in names if n.endswith(C.CHUNKS_SUFFIX) and n[: -len(C.CHUNKS_SUFFIX)] not in ids]

    def remove(self, *parts: str) -> None:
        self.ensure_held()
        remove_quietly(self._p(*parts))
