"""The typed values a session takes: how to open the repository, how to create it, how to cut chunks, and
one VM's backup or restore.

Frozen dataclasses, each default taken from store/constants.py. They are built from what a user wrote (the
module's parameters, the command line, a job file, a proxy's options document) by ``options.py`` one room
up, which checks every value; a session trusts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_COMPRESSION,
    DEFAULT_HASH,
    DEFAULT_KDF,
    DEFAULT_LOCK_TIMEOUT,
    LATEST,
    RESTORE_FORMATS,
)

Range = Tuple[int, int]  # (offset, length) in virtual-disk bytes


@dataclass(frozen=True)
class DiskChanges:
    """What changed on one disk since a baseline, as Hyper-V RCT reported it (or why it could not).

    ``ranges`` None: read the disk in full, ``reason`` says why. ``since``: the RCT id the ranges start at;
    the ranges are then used only if the VM's latest restore point recorded exactly that id for the disk."""

    ranges: Optional[Tuple[Range, ...]]
    since: Optional[str] = None
    reason: Optional[str] = None
    audit: bool = False  # read in full anyway and check that nothing changed outside the ranges (run/audit.py)


Ranges = Mapping[str, DiskChanges]  # changed ranges by source path
ChangeIds = Mapping[str, str]  # the RCT id of each disk at the time of the backup, by source path
Parents = Mapping[str, Tuple[str, ...]]  # a differencing disk's parent files, nearest first, by source path


@dataclass(frozen=True)
class RepositoryAccess:
    """How every operation opens the repository."""

    path: str
    passphrase: Optional[str] = None
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    workers: Optional[int] = None  # None: one per core


@dataclass(frozen=True)
class NewRepository:
    """How a backup (or init) creates a missing repository; an existing one keeps its own."""

    encryption: Optional[str] = None  # as written: None (by the passphrase), "none", or a cipher
    hash: str = DEFAULT_HASH
    kdf: str = DEFAULT_KDF

    @property
    def cipher(self) -> Optional[str]:
        """The engine's cipher: None for a plaintext repository (or one chosen by the passphrase)."""
        return None if self.encryption in (None, "none") else self.encryption


@dataclass(frozen=True)
class Chunking:
    """How a backup cuts and compresses its sources."""

    block_size: int = DEFAULT_CHUNK_SIZE
    compression: str = DEFAULT_COMPRESSION


@dataclass(frozen=True)
class BackupEntry:
    """One VM of a backup: its sources in order, the RCT ranges (keyed by a source) to read of them, the RCT id
    of each disk (keyed by a source) to record in the new restore point, and the parent files of each
    differencing disk (keyed by a source, nearest first) where its host names them."""

    vm: str
    sources: Tuple[str, ...]
    changed_ranges: Optional[Ranges] = None
    change_ids: Optional[ChangeIds] = None
    # On a proxy each volume's shadow copy is a folder of its own, so a parent on another volume than its child
    # cannot be found from the child's parent locator; the host's chain, mapped to the proxy, names it.
    parents: Optional[Parents] = None


@dataclass(frozen=True)
class RestoreEntry:
    """One VM of a restore: which restore point, into which folder, in which disk format."""

    vm: Optional[str]  # None: the restore point, named by its id, says
    destination: str
    restore_point: str = LATEST
    format: str = RESTORE_FORMATS[0]
    overwrite: bool = False
    salvage: bool = False  # write what can be read of a damaged restore point, and mark the rest (run/salvage.py)
    rollback: bool = False  # over an existing disk of the same size and format, write only what differs


# Frozen, so one instance each serves as every default.
AS_CONFIGURED = NewRepository()
DEFAULT_CHUNKING = Chunking()
