"""Passphrase key derivation (scrypt or Argon2id), optionally started ahead of the unlock that needs it.

The key file (``keys/master.key``) names the derivation and its cost; ``settings_from`` reads them and
``settings_fields`` writes them (see the format document, section 3). Both come from ``cryptography``
(Argon2id needs version 44 or later), imported on first use: its bundled OpenSSL runs scrypt about 15 %
faster than the system OpenSSL behind ``hashlib`` on the benchmark machine (85 against 100 ms).

Unlocking an encrypted repository costs one derivation (about 0.1 s at the default costs). The command line
starts it on a background thread as soon as it knows the repository and the passphrase, so it runs while
the engine is still being imported and the key file read; ``derive_key`` then takes that result instead of
deriving again. Both derivations release the GIL, so the two proceed at once. Only the standard library and
two small modules of this package are imported at module level, so the early start is not delayed by imports.

An early result is used once and then forgotten. Only the job server (``server.py``), which runs one proxy's
jobs one after another, keeps the keys it derived (``keep_derived_keys``), in its memory and until it ends:
each job of a run then unlocks the repository without deriving again. A key is kept under an HMAC (with a
random key of the process) of the passphrase and the key file's derivation settings (salt and costs), so a
changed passphrase or key file derives anew, and the passphrase itself is not kept between jobs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
from concurrent.futures import Future
from typing import Any, Dict, Mapping, NamedTuple, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DependencyError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    ARGON2ID_ITERATIONS,
    ARGON2ID_LANES,
    ARGON2ID_MEMORY_KIB,
    KDFS,
    SALT_SIZE,
    SCRYPT_N,
    SCRYPT_P,
    SCRYPT_R,
)

SCRYPT_MAXMEM = 256 << 20  # allows N up to 2**17 with r = 8; a key file asking for more is refused
KEY_LENGTH = 32
COST_FIELDS = {"scrypt": ("n", "r", "p"), "argon2id": ("memory_kib", "iterations", "lanes")}
DEFAULT_COSTS = {
    "scrypt": (SCRYPT_N, SCRYPT_R, SCRYPT_P),
    "argon2id": (ARGON2ID_MEMORY_KIB, ARGON2ID_ITERATIONS, ARGON2ID_LANES),
}


class KdfSettings(NamedTuple):
    kind: str  # one of KDFS
    salt: bytes
    costs: Tuple[int, ...]  # in the order of COST_FIELDS[kind]


def new_settings(kind: str) -> KdfSettings:
    """A fresh salt and the default costs; ValueError for an unknown derivation."""
    if kind not in KDFS:
        raise ValueError(f"unknown key derivation {kind!r}; choose one of {', '.join(KDFS)}")
    return KdfSettings(kind, os.urandom(SALT_SIZE), DEFAULT_COSTS[kind])


def settings_fields(settings: KdfSettings) -> Dict[str, Any]:
    """The key file's fields that describe the derivation."""
    fields: Dict[str, Any] = {"kdf": settings.kind}
    fields.update(zip(COST_FIELDS[settings.kind], settings.costs))
    fields["salt"] = base64.b64encode(settings.salt).decode()
    return fields


def settings_from(doc: Mapping[str, Any]) -> KdfSettings:
    """The derivation a key file names; ValueError, KeyError or TypeError when it is malformed or unknown."""
    kind = doc["kdf"]
    if kind not in COST_FIELDS:
        raise ValueError(f"unknown key derivation {kind!r}")
    return KdfSettings(kind, base64.b64decode(doc["salt"]), tuple(int(doc[name]) for name in COST_FIELDS[kind]))


_Request = Tuple[str, KdfSettings]  # passphrase, settings
_early: Dict[_Request, Future] = {}
_early_lock = threading.Lock()
# The job server's derived keys (keep_derived_keys), each under an HMAC of its passphrase and settings with a key
# of this process drawn at random: the passphrase itself is not kept between jobs.
_kept: Optional[Dict[bytes, bytes]] = None
_kept_tag_key = os.urandom(32)


def _kept_tag(request: _Request) -> bytes:
    passphrase, (kind, salt, costs) = request
    text = json.dumps([passphrase, kind, base64.b64encode(salt).decode(), list(costs)]).encode("utf-8")
    return hmac.new(_kept_tag_key, text, hashlib.sha256).digest()


def keep_derived_keys(keep: bool) -> None:
    """Keep every key derived from now on for the next unlock that asks for it (True), or forget them all and stop
    keeping (False)."""
    global _kept
    with _early_lock:
        _kept = {} if keep else None


def derive_key(passphrase: str, settings: KdfSettings) -> bytes:
    """The 32-byte key derived from ``passphrase``; ValueError for costs the derivation refuses."""
    request = (passphrase, settings)
    with _early_lock:
        early = _early.pop(request, None)
        kept = None if _kept is None else _kept.get(_kept_tag(request))
    if kept is not None:
        return kept
    key = early.result() if early is not None else _derive(request)  # the early run's exception is re-raised here
    with _early_lock:
        if _kept is not None:
            _kept[_kept_tag(request)] = key
    return key


def derive_ahead(key_file: str, passphrase: Optional[str]) -> Optional[Future]:
    """Start deriving the key for the settings in ``key_file`` on a background thread.

    Best effort: without a passphrase, or when the file is missing or unreadable (a plaintext repository, a
    typo in the path...), nothing is started; the unlock itself then reports the problem.
    """
    request = _request_from(key_file, passphrase)
    if request is None:
        return None
    future: Future = Future()
    with _early_lock:
        if _kept is not None and _kept_tag(request) in _kept:
            return None  # derive_key has it
        if request in _early:
            return _early[request]
        _early[request] = future
    thread = threading.Thread(target=_run_into, args=(future, request), name="datamover-kdf", daemon=True)
    thread.start()
    return future


def _request_from(key_file: str, passphrase: Optional[str]) -> Optional[_Request]:
    if not passphrase:
        return None
    try:
        with open(key_file, "rb") as handle:
            return passphrase, settings_from(json.loads(handle.read(1 << 16)))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _run_into(future: Future, request: _Request) -> None:
    try:
        future.set_result(_derive(request))
    except Exception as exc:  # handed to the unlock that takes this result, which re-raises it
        future.set_exception(exc)


def _derive(request: _Request) -> bytes:
    passphrase, (kind, salt, costs) = request
    secret = passphrase.encode("utf-8")
    if kind == "scrypt":
        return _scrypt(salt, *costs).derive(secret)
    memory_kib, iterations, lanes = costs
    return _argon2id(salt, memory_kib, iterations, lanes).derive(secret)


def _scrypt(salt: bytes, n: int, r: int, p: int) -> Any:
    # the key file is data: a cost that would take more than SCRYPT_MAXMEM (a damaged or hostile file) is refused
    if n < 2 or n & (n - 1) or r < 1 or p < 1 or 128 * r * (n + p) > SCRYPT_MAXMEM:
        raise ValueError(f"scrypt costs n={n}, r={r}, p={p} are invalid or need more than {SCRYPT_MAXMEM} bytes")
    try:
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
    except ImportError as exc:
        raise DependencyError(f"scrypt needs the cryptography package: {exc}") from exc
    return Scrypt(salt=salt, length=KEY_LENGTH, n=n, r=r, p=p)


def _argon2id(salt: bytes, memory_kib: int, iterations: int, lanes: int) -> Any:
    try:
        from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
    except ImportError as exc:  # cryptography older than 44, or missing
        raise DependencyError(f"Argon2id needs the cryptography package, version 44 or later: {exc}") from exc
    return Argon2id(salt=salt, length=KEY_LENGTH, iterations=iterations, lanes=lanes, memory_cost=memory_kib)
