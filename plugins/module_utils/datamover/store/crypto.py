"""Encryption at rest: AEAD sealing of stored items and the passphrase-protected master key.

A random 64-byte master key (32-byte data key + 32-byte chunk-id key) is wrapped with a key-encryption
key derived from the passphrase by scrypt, and stored in ``keys/master.key`` (JSON). Sealed item:
``nonce (12) || ciphertext || tag (16)``; associated data binds each item to its place (see the format doc).
"""

from __future__ import annotations

import base64
import json
import os
from typing import NamedTuple, Optional

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import (
    CorruptionError,
    DependencyError,
    PassphraseError,
    RepositoryError,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    CIPHERS,
    DEFAULT_KDF,
    MASTER_KEY_SIZE,
    NONCE_SIZE,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.hashing import sha256
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.kdf import (
    KdfSettings,
    derive_key,
    new_settings,
    settings_fields,
    settings_from,
)

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
except ImportError as exc:  # the import sanity test runs without third-party packages
    AESGCM = ChaCha20Poly1305 = InvalidTag = None
    CRYPTOGRAPHY_IMPORT_ERROR: Optional[ImportError] = exc
else:
    CRYPTOGRAPHY_IMPORT_ERROR = None

KEY_WRAP_AD = b"backup.hyperv datamover key v1"
KEY_CHECKSUM = "sha256"  # key file field: its checksum (key_checksum); optional, absent from older key files
KEY_FILE_DAMAGED = (
    "the repository key file (keys/master.key) is damaged, not the passphrase wrong: put back a copy of that file "
    "(the passphrase alone cannot unlock the repository)"
)


class MasterKey(NamedTuple):
    data_key: bytes  # AEAD key for everything sealed in the repository
    id_key: bytes  # key of the keyed chunk-id hash


class Sealer:
    """AEAD seal/open with random nonces; thread-safe (the cryptography AEAD objects are)."""

    def __init__(self, cipher: str, key: bytes) -> None:
        self.cipher = cipher
        self._aead = _aead(cipher, key)

    def seal(self, plaintext: bytes, associated: bytes) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return nonce + self._aead.encrypt(nonce, plaintext, associated)

    def open(self, sealed: bytes, associated: bytes) -> bytes:
        """Decrypt and authenticate; a forged or damaged item raises CorruptionError."""
        try:
            return self._aead.decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], associated)
        except (InvalidTag, ValueError) as exc:
            raise CorruptionError("authentication failed: encrypted data is damaged or was altered") from exc


def _aead(cipher: str, key: bytes) -> object:
    if AESGCM is None:
        raise DependencyError(
            f"the cryptography Python package is required for encryption: {CRYPTOGRAPHY_IMPORT_ERROR}"
        )
    if cipher == "aes-256-gcm":
        return AESGCM(key)
    if cipher == "chacha20-poly1305":
        return ChaCha20Poly1305(key)
    raise RepositoryError(f"unknown cipher {cipher!r}; choose one of {', '.join(CIPHERS)}")


def _kek(passphrase: str, settings: KdfSettings) -> bytes:
    if not passphrase:
        raise PassphraseError("an empty passphrase cannot protect a repository key")
    return derive_key(passphrase, settings)


def new_key_file(passphrase: str, cipher: str, kdf: str = DEFAULT_KDF) -> tuple[MasterKey, bytes]:
    """Make a random master key; return it and the JSON key file that wraps it under ``passphrase``."""
    master = os.urandom(MASTER_KEY_SIZE)
    try:
        settings = new_settings(kdf)
    except ValueError as exc:
        raise RepositoryError(str(exc)) from exc
    wrapped = Sealer(cipher, _kek(passphrase, settings)).seal(master, KEY_WRAP_AD)
    document = dict(settings_fields(settings), cipher=cipher, wrapped_key=base64.b64encode(wrapped).decode())
    document[KEY_CHECKSUM] = key_checksum(document)
    return _split(master), json.dumps(document, indent=1).encode()


def key_checksum(document: dict) -> str:
    """SHA-256 of the key file's fields but this one, as compact sorted JSON: a passphrase-free check that tells
    a damaged key file from a wrong passphrase (both fail to unwrap the key)."""
    fields = {name: value for name, value in document.items() if name != KEY_CHECKSUM}
    return sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hex()


def _read_key_document(content: bytes) -> dict:
    """The key file's fields, checked against its checksum when it has one (files before it have none)."""
    try:
        document = json.loads(content)
    except ValueError as exc:
        raise RepositoryError(f"{KEY_FILE_DAMAGED}: it is not JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise RepositoryError(f"{KEY_FILE_DAMAGED}: it is not a JSON object")
    if KEY_CHECKSUM in document and document[KEY_CHECKSUM] != key_checksum(document):
        raise RepositoryError(f"{KEY_FILE_DAMAGED}: its checksum does not match its content")
    return document


def unlock_key_file(content: bytes, passphrase: Optional[str]) -> MasterKey:
    """Unwrap the master key; a wrong passphrase raises PassphraseError and changes nothing, a damaged key file
    a RepositoryError that says so."""
    if not passphrase:
        raise PassphraseError("the repository is encrypted: a passphrase is required")
    doc = _read_key_document(content)
    try:
        wrapped = base64.b64decode(doc["wrapped_key"], validate=True)
        kek = _kek(passphrase, settings_from(doc))
        sealer = Sealer(doc["cipher"], kek)
    except (ValueError, KeyError, TypeError) as exc:  # whole, by its checksum: written so (by a newer version?)
        raise RepositoryError(f"the repository key file is malformed: {exc}") from exc
    try:
        master = sealer.open(wrapped, KEY_WRAP_AD)
    except CorruptionError:
        unsure = "" if KEY_CHECKSUM in doc else " (or the key file, written before key checksums, is damaged)"
        raise PassphraseError(f"wrong passphrase: it does not unlock the repository key{unsure}") from None
    if len(master) != MASTER_KEY_SIZE:
        raise RepositoryError("the repository key file holds a key of the wrong size")
    return _split(master)


def _split(master: bytes) -> MasterKey:
    return MasterKey(data_key=master[:32], id_key=master[32:])
