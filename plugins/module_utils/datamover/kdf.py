"""Passphrase key derivation (scrypt), optionally started ahead of the unlock that needs it.

Unlocking an encrypted repository costs one scrypt run (about 0.1 s at ``constants.SCRYPT_N``). The command
line starts it on a background thread as soon as it knows the repository and the passphrase, so it runs while
the engine is still being imported and the key file read; ``scrypt_key`` then takes that result instead of
deriving again. ``hashlib.scrypt`` releases the GIL, so both proceed at once. Only the standard library is
imported here, so that the early start is not itself delayed by imports.

An early result is used once and then forgotten: nothing keeps derived keys for the life of the process.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from concurrent.futures import Future
from typing import Dict, Optional, Tuple

SCRYPT_MAXMEM = 256 << 20  # allows N up to 2**17 with r = 8; larger cost settings are refused by OpenSSL
KEY_LENGTH = 32

_Params = Tuple[str, bytes, int, int, int]  # passphrase, salt, n, r, p
_early: Dict[_Params, Future] = {}
_early_lock = threading.Lock()


def scrypt_key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    """The 32-byte key scrypt derives from ``passphrase``; raises ValueError for parameters scrypt refuses."""
    params = (passphrase, salt, n, r, p)
    with _early_lock:
        early = _early.pop(params, None)
    if early is not None:
        return early.result()  # the early run's own ValueError, if any, is re-raised here
    return _derive(params)


def derive_ahead(key_file: str, passphrase: Optional[str]) -> Optional[Future]:
    """Start deriving the key for the scrypt settings in ``key_file`` on a background thread.

    Best effort: without a passphrase, or when the file is missing or unreadable (a plaintext repository, a
    typo in the path...), nothing is started; the unlock itself then reports the problem.
    """
    params = _params_from(key_file, passphrase)
    if params is None:
        return None
    future: Future = Future()
    with _early_lock:
        if params in _early:
            return _early[params]
        _early[params] = future
    thread = threading.Thread(target=_run_into, args=(future, params), name="datamover-kdf", daemon=True)
    thread.start()
    return future


def _params_from(key_file: str, passphrase: Optional[str]) -> Optional[_Params]:
    if not passphrase:
        return None
    try:
        with open(key_file, "rb") as handle:
            doc = json.loads(handle.read(1 << 16))
        if doc.get("kdf") != "scrypt":
            return None
        return passphrase, base64.b64decode(doc["salt"]), int(doc["n"]), int(doc["r"]), int(doc["p"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _run_into(future: Future, params: _Params) -> None:
    try:
        future.set_result(_derive(params))
    except Exception as exc:  # handed to the unlock that takes this result, which re-raises it
        future.set_exception(exc)


def _derive(params: _Params) -> bytes:
    passphrase, salt, n, r, p = params
    return hashlib.scrypt(passphrase.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=KEY_LENGTH)
