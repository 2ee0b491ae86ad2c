"""A repository's layout: creating its folders, key file and config (``create_layout``), and reading its
config back (``read_config``), which is what tells a repository from any other folder.

The config file is written last: its presence marks a complete repository (docs/datamover-format.md).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from typing import Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import (
    FormatVersionError,
    PassphraseError,
    RepositoryError,
    RepositoryExistsError,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import (
    make_private_dirs,
    publish,
    read_file,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store import constants as C
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.crypto import MasterKey, new_key_file
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.hashing import make_chunk_hasher
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock import RepositoryLock

SUBDIRS = (C.PACKS_DIR, C.INDEX_DIR, C.POINTS_DIR, C.LOCKS_DIR, C.TMP_DIR, "keys")


# Where a repository keeps what its key seals: found without a config, the config was lost, not never written.
SEALED_DATA = (C.POINTS_DIR, C.PACKS_DIR, C.INDEX_DIR)


def create_layout(
    path: str,
    *,
    passphrase: Optional[str],
    encryption: Optional[str],
    hash_algorithm: str,
    kdf: str,
    lock_timeout: float = 0,
) -> Tuple[dict, Optional[MasterKey]]:
    """Create a repository; return its config and, when encrypted, the new master key (so that opening
    the new repository does not pay for a second scrypt unlock).

    Under the repository's exclusive lock: two first backups that start together (two proxies, two slots) would
    otherwise each write a key and a config, and the data of the one whose key was replaced could never be
    read. The second one waits, then finds the config and raises ``RepositoryExistsError`` (its caller opens the
    repository instead)."""
    encryption = _checked_encryption(path, passphrase, encryption, hash_algorithm, kdf)
    try:
        make_private_dirs(os.path.join(path, C.LOCKS_DIR))
    except OSError as exc:
        raise RepositoryError(f"cannot create the repository at {path}: {exc.strerror or exc}") from exc
    with RepositoryLock(os.path.join(path, C.LOCKS_DIR), True, lock_timeout, operation="init"):
        if os.path.exists(os.path.join(path, C.CONFIG_FILE)):
            raise RepositoryExistsError(f"a repository already exists at {path}")
        _refuse_a_lost_config(path)
        return _create(path, passphrase, encryption, hash_algorithm, kdf)


def _refuse_a_lost_config(path: str) -> None:
    """Restore points, packs or index files without a config: the config was lost, and a new repository here
    would replace the key that seals them (a key left by a creation that crashed before its config is replaced:
    nothing was sealed with it)."""
    kept = [sub for sub in SEALED_DATA if _holds_anything(os.path.join(path, sub))]
    if kept:
        raise RepositoryError(
            f"{path} holds a repository's {', '.join(kept)} but no {C.CONFIG_FILE} file: its config was lost, and "
            "a new repository here would replace the key that seals that data. Put the config file back (from a "
            "copy or a backup of the repository), or back up to another folder"
        )


def _holds_anything(folder: str) -> bool:
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is not None
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise RepositoryError(f"cannot read {folder}: {exc.strerror or exc}") from exc


def _checked_encryption(
    path: str, passphrase: Optional[str], encryption: Optional[str], hash_algorithm: str, kdf: str
) -> Optional[str]:
    """The new repository's cipher (a passphrase without one: the default); refuses what cannot make a repository
    before anything is created."""
    if os.path.exists(os.path.join(path, C.CONFIG_FILE)):
        raise RepositoryExistsError(f"a repository already exists at {path}")
    if encryption is None and passphrase:
        encryption = C.CIPHERS[0]
    if encryption is not None and encryption not in C.CIPHERS:
        raise RepositoryError(f"unknown encryption {encryption!r}; choose one of {', '.join(C.CIPHERS)}")
    if encryption is not None and not passphrase:
        raise PassphraseError("encryption needs a passphrase")
    make_chunk_hasher(hash_algorithm)  # refuse an unknown algorithm before creating anything
    if kdf not in C.KDFS:
        raise RepositoryError(f"unknown key derivation {kdf!r}; choose one of {', '.join(C.KDFS)}")
    return encryption


def _create(
    path: str, passphrase: Optional[str], encryption: Optional[str], hash_algorithm: str, kdf: str
) -> Tuple[dict, Optional[MasterKey]]:
    try:
        master = None
        for sub in SUBDIRS:
            make_private_dirs(os.path.join(path, sub))
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
