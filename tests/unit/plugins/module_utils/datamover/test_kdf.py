"""Key derivation started ahead of the unlock: same key, used once, never a wrong or stale one."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import cli, kdf
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.constants import KEY_FILE
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.repository import create_layout

PASSPHRASE = "correct horse"


@pytest.fixture
def derivations(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every scrypt run, as the passphrase it was given (the real scrypt still runs)."""
    runs: list = []
    real = kdf._derive

    def counting(params: tuple) -> bytes:
        runs.append(params[0])
        return real(params)

    monkeypatch.setattr(kdf, "_derive", counting)
    return runs


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    create_layout(str(tmp_path / "repo"), passphrase=PASSPHRASE, encryption="aes-256-gcm", hash_algorithm="blake3")
    return tmp_path / "repo" / KEY_FILE


def settings(path: Path) -> tuple:
    params = kdf._params_from(str(path), PASSPHRASE)
    assert params is not None
    return params[1:]


def test_an_early_derivation_gives_the_key_scrypt_gives_and_is_used_once(key_file: Path, derivations: list) -> None:
    salt, n, r, p = settings(key_file)
    expected = hashlib.scrypt(PASSPHRASE.encode(), salt=salt, n=n, r=r, p=p, maxmem=kdf.SCRYPT_MAXMEM, dklen=32)
    future = kdf.derive_ahead(str(key_file), PASSPHRASE)
    assert future is not None
    assert kdf.scrypt_key(PASSPHRASE, salt, n, r, p) == expected
    assert derivations == [PASSPHRASE]
    assert kdf.scrypt_key(PASSPHRASE, salt, n, r, p) == expected  # the early result is gone: derived again
    assert derivations == [PASSPHRASE, PASSPHRASE]
    assert not kdf._early


def test_an_early_derivation_for_another_passphrase_is_not_used(key_file: Path, derivations: list) -> None:
    salt, n, r, p = settings(key_file)
    kdf.derive_ahead(str(key_file), "typo")
    key = kdf.scrypt_key(PASSPHRASE, salt, n, r, p)
    assert key == hashlib.scrypt(PASSPHRASE.encode(), salt=salt, n=n, r=r, p=p, maxmem=kdf.SCRYPT_MAXMEM, dklen=32)
    assert sorted(derivations) == sorted(["typo", PASSPHRASE])
    kdf._early.clear()


@pytest.mark.parametrize("content", [None, b"", b"{not json", b'{"kdf": "argon2"}', b'{"kdf": "scrypt", "n": 1}'])
def test_nothing_is_started_without_a_usable_key_file(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "master.key"
    if content is not None:
        path.write_bytes(content)
    assert kdf.derive_ahead(str(path), PASSPHRASE) is None
    assert not kdf._early


def test_nothing_is_started_without_a_passphrase(key_file: Path) -> None:
    assert kdf.derive_ahead(str(key_file), None) is None
    assert kdf.derive_ahead(str(key_file), "") is None


def test_settings_scrypt_refuses_fail_the_unlock_not_the_process(key_file: Path) -> None:
    salt, _n, r, p = settings(key_file)
    bad_n = 3  # not a power of two: hashlib raises ValueError on the background thread
    key_file.write_text(key_file.read_text().replace(f'"n": {_n}', f'"n": {bad_n}'))
    future = kdf.derive_ahead(str(key_file), PASSPHRASE)
    assert future is not None
    with pytest.raises(ValueError):
        kdf.scrypt_key(PASSPHRASE, salt, bad_n, r, p)


def test_the_command_line_derives_the_key_once_per_run(key_file: Path, derivations: list, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(PASSPHRASE + "\n")
    out, err = io.StringIO(), io.StringIO()
    status = cli.main(["list", str(key_file.parent.parent), "--passphrase-file", str(secret), "--json"],
                      environ={}, stdout=out, stderr=err)  # fmt: skip
    assert status == 0, err.getvalue()
    assert derivations == [PASSPHRASE]
    assert not kdf._early
