"""Encryption at rest: passphrase handling, keyed chunk ids, nothing readable in plaintext."""

from __future__ import annotations

import os

import pytest
import runs

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import (
    CorruptionError,
    PassphraseError,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.crypto import (
    Sealer,
    new_key_file,
    unlock_key_file,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository

MiB = 1 << 20
MARKER = b"SECRET-MARKER-1234 " * 1000


@pytest.fixture
def disk(tmp_path):
    path = tmp_path / "d.raw"
    path.write_bytes(MARKER[: 2 * MiB] + bytes(2 * MiB - len(MARKER[: 2 * MiB])) + os.urandom(MiB))
    return path


def _all_bytes(folder) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("cipher", ["aes-256-gcm", "chacha20-poly1305"])
def test_encrypted_round_trip_and_no_plaintext_on_disk(tmp_path, disk, fake_disks, cipher):
    repo = tmp_path / "repo"
    fake_disks.backup(str(repo), "secret-vm", [str(disk)], passphrase="pw", encryption=cipher, compression="none")
    stored = _all_bytes(repo)
    assert b"SECRET-MARKER" not in stored and b"secret-vm" not in stored and b"d.raw" not in stored
    runs.restore(str(repo), "secret-vm", str(tmp_path / "out"), format="raw", passphrase="pw")
    assert (tmp_path / "out" / "d.raw").read_bytes() == disk.read_bytes()
    assert runs.verify(str(repo), passphrase="pw")["ok"]


def test_wrong_or_missing_passphrase_is_a_clear_error_and_changes_nothing(tmp_path, disk, fake_disks):
    repo = tmp_path / "repo"
    fake_disks.backup(str(repo), "vm", [str(disk)], passphrase="right")
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()}
    with pytest.raises(PassphraseError, match="wrong passphrase"):
        fake_disks.backup(str(repo), "vm", [str(disk)], passphrase="wrong")
    with pytest.raises(PassphraseError, match="passphrase is required"):
        runs.points(str(repo))
    with pytest.raises(PassphraseError, match="wrong passphrase"):
        runs.restore(str(repo), "vm", str(tmp_path / "out"), passphrase="wrong")
    assert {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()} == before
    assert not (tmp_path / "out").exists()


def test_chunk_ids_are_keyed_per_repository(tmp_path, disk, fake_disks):
    ids = []
    for name, passphrase in (("plain", None), ("enc1", "pw"), ("enc2", "pw")):
        fake_disks.backup(str(tmp_path / name), "vm", [str(disk)], passphrase=passphrase)
        repo = Repository(str(tmp_path / name), passphrase)
        ids.append({chunk_id for chunk_id, _ignored in repo.load_index().items()})
    assert len(ids[0]) == len(ids[1]) == len(ids[2]) == 2
    assert not ids[0] & ids[1] and not ids[1] & ids[2]  # same data, unrelated ids


def test_key_file_unlocks_only_with_its_passphrase():
    master, key_file = new_key_file("pass phrase", "aes-256-gcm")
    assert unlock_key_file(key_file, "pass phrase") == master
    with pytest.raises(PassphraseError):
        unlock_key_file(key_file, "pass phrase ")


def test_sealer_detects_tampering_and_wrong_context():
    sealer = Sealer("chacha20-poly1305", bytes(range(32)))
    sealed = bytearray(sealer.seal(b"data", b"ctx"))
    assert sealer.open(bytes(sealed), b"ctx") == b"data"
    with pytest.raises(CorruptionError):
        sealer.open(bytes(sealed), b"other")
    sealed[-1] ^= 1
    with pytest.raises(CorruptionError):
        sealer.open(bytes(sealed), b"ctx")
