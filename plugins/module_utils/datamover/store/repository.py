"""The repository on disk: config, key, packs, index files and restore point files, and how to open them.

Commit order of a backup (see docs/datamover-format.md): packs (durable) -> index file -> chunk list file
-> restore point record. Readers trust only what a record names; writers reuse any durable pack, indexed
or not (packs carry their own entry table).
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone
from typing import Dict, List, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import (
    CorruptionError,
    FormatVersionError,
    PassphraseError,
    RepositoryError,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import (
    O_BINARY,
    fsync_dir,
    pread,
    publish,
    read_file,
    remove_quietly,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store import constants as C
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.blob import decode_blob
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.compress import Codec
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.crypto import (
    MasterKey,
    Sealer,
    new_key_file,
    unlock_key_file,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.envelope import open_envelope, seal_envelope
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.hashing import make_chunk_hasher, sha256
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.index import (
    Index,
    decode_index,
    encode_index,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock import RepositoryLock
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.pack import (
    PackEntry,
    PackWriter,
    pack_id_of,
    read_pack_entries,
)

SUBDIRS = (C.PACKS_DIR, C.INDEX_DIR, C.POINTS_DIR, C.LOCKS_DIR, C.TMP_DIR, "keys")


def init_layout(
    path: str, *, passphrase: Optional[str], encryption: Optional[str], hash_algorithm: str, kdf: str = "scrypt"
) -> dict:
    """Create a repository; the config file is written last and marks it as complete."""
    config, _master = create_layout(
        path, passphrase=passphrase, encryption=encryption, hash_algorithm=hash_algorithm, kdf=kdf
    )
    return config


def create_layout(
    path: str, *, passphrase: Optional[str], encryption: Optional[str], hash_algorithm: str, kdf: str = "scrypt"
) -> Tuple[dict, Optional[MasterKey]]:
    """Create a repository; return its config and, when encrypted, the new master key (so that opening
    the new repository does not pay for a second scrypt unlock)."""
    if os.path.exists(os.path.join(path, C.CONFIG_FILE)):
        raise RepositoryError(f"a repository already exists at {path}")
    if encryption is None and passphrase:
        encryption = C.CIPHERS[0]
    if encryption is not None and encryption not in C.CIPHERS:
        raise RepositoryError(f"unknown encryption {encryption!r}; choose one of {', '.join(C.CIPHERS)}")
    if encryption is not None and not passphrase:
        raise PassphraseError("encryption needs a passphrase")
    make_chunk_hasher(hash_algorithm)  # refuse an unknown algorithm before creating anything
    if kdf not in C.KDFS:
        raise RepositoryError(f"unknown key derivation {kdf!r}; choose one of {', '.join(C.KDFS)}")
    try:
        master = None
        for sub in SUBDIRS:
            os.makedirs(os.path.join(path, sub), exist_ok=True)
        if encryption is not None:
            master, key_file = new_key_file(passphrase, encryption, kdf)
            publish(os.path.join(path, C.KEY_FILE), key_file, os.path.join(path, C.TMP_DIR))
    except OSError as exc:
        raise RepositoryError(f"cannot create the repository at {path}: {exc.strerror or exc}") from exc
    config = {
        "kind": C.REPOSITORY_KIND,
        "version": C.FORMAT_VERSION,
        "id": os.urandom(16).hex(),
        "hash": hash_algorithm,
        "encryption": encryption,
        "created": datetime.now(timezone.utc).isoformat(),
    }
    publish(os.path.join(path, C.CONFIG_FILE), json.dumps(config, indent=1).encode(), os.path.join(path, C.TMP_DIR))
    return config, master


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

    def _p(self, *parts: str) -> str:
        return os.path.join(self.path, *parts)

    @property
    def tmp_dir(self) -> str:
        return self._p(C.TMP_DIR)

    def lock(self, exclusive: bool, timeout: float) -> RepositoryLock:
        return RepositoryLock(self._p(C.LOCKS_DIR), exclusive, timeout)

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
        publish(self._p(C.INDEX_DIR, name), payload, self.tmp_dir)
        return name

    def new_pack_writer(self) -> PackWriter:
        pack_id = os.urandom(C.PACK_ID_SIZE)
        return PackWriter(self.tmp_dir, self.pack_path(pack_id), pack_id, self.sealer)

    def read_blob(self, pack_id: bytes, offset: int, length: int) -> bytes:
        """Read stored bytes; a missing or short pack is a CorruptionError."""
        with self._fd_lock:
            fd = self._fds.get(pack_id)
            if fd is None:
                try:
                    fd = self._fds[pack_id] = os.open(self.pack_path(pack_id), os.O_RDONLY | O_BINARY)
                except OSError as exc:
                    raise CorruptionError(f"pack {pack_id.hex()} is missing or unreadable: {exc.strerror}") from exc
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

    def write_point(self, point: dict, chunk_payload: bytes) -> None:
        """Chunk lists first, the record last: the record's presence is the commit."""
        chunk_file = seal_envelope(C.CHUNK_LIST_MAGIC, chunk_payload, self.sealer)
        name = point["id"] + C.CHUNKS_SUFFIX
        publish(self._p(C.POINTS_DIR, name), chunk_file, self.tmp_dir)
        point["chunk_list"] = {"file": name, "sha256": sha256(chunk_file).hex()}
        plaintext = json.dumps(point).encode()
        record = seal_envelope(C.POINT_MAGIC, plaintext, self.sealer)
        publish(self._p(C.POINTS_DIR, point["id"] + C.POINT_SUFFIX), record, self.tmp_dir)
        self._point_records[point["id"]] = plaintext

    def delete_point(self, point_id: str) -> None:
        """Record first (the point disappears atomically), then its chunk lists."""
        self._point_records.pop(point_id, None)
        remove_quietly(self._p(C.POINTS_DIR, point_id + C.POINT_SUFFIX))
        fsync_dir(self._p(C.POINTS_DIR))
        remove_quietly(self._p(C.POINTS_DIR, point_id + C.CHUNKS_SUFFIX))

    def orphan_chunk_lists(self) -> List[str]:
        ids = set(self.point_ids())
        names = os.listdir(self._p(C.POINTS_DIR))
        return [n for n in names if n.endswith(C.CHUNKS_SUFFIX) and n[: -len(C.CHUNKS_SUFFIX)] not in ids]

    def remove(self, *parts: str) -> None:
        remove_quietly(self._p(*parts))


def read_config(path: str) -> dict:
    """Read and check ``config``; a newer format version is refused before anything else is touched."""
    config_path = os.path.join(path, C.CONFIG_FILE)
    try:
        config = json.loads(read_file(config_path))
    except FileNotFoundError:
        raise RepositoryError(f"no repository at {path} (no {C.CONFIG_FILE} file)") from None
    except (OSError, ValueError) as exc:
        raise RepositoryError(f"the repository config {config_path} is unreadable: {exc}") from exc
    if not isinstance(config, dict) or config.get("kind") != C.REPOSITORY_KIND:
        raise RepositoryError(f"{path} is not a backup.hyperv data mover repository")
    version = config.get("version")
    if not isinstance(version, int) or version > C.FORMAT_VERSION:
        raise FormatVersionError(
            f"the repository at {path} has format version {version}; this data mover reads up to "
            f"version {C.FORMAT_VERSION}: upgrade the collection"
        )
    return config
