"""Key derivation: scrypt and Argon2id key files, and the derivation started ahead of the unlock (same key,
used once, never a wrong or stale one)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
import runs
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import cli
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import (
    DependencyError,
    PassphraseError,
    RepositoryError,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store import kdf
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import KEY_FILE
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.crypto import KEY_CHECKSUM, key_checksum
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.layout import create_layout
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository

PASSPHRASE = "correct horse"


def independent_key(settings: kdf.KdfSettings, passphrase: str = PASSPHRASE) -> bytes:
    """The key each derivation's reference implementation gives, computed without kdf.py."""
    if settings.kind == "scrypt":
        n, r, p = settings.costs
        return hashlib.scrypt(passphrase.encode(), salt=settings.salt, n=n, r=r, p=p, maxmem=256 << 20, dklen=32)
    memory, iterations, lanes = settings.costs
    argon2id = Argon2id(salt=settings.salt, length=32, iterations=iterations, lanes=lanes, memory_cost=memory)
    return argon2id.derive(passphrase.encode())


@pytest.fixture(autouse=True)
def no_early_results_left():
    """A test that fails halfway must not hand its early derivation to the next one."""
    yield
    kdf._early.clear()


@pytest.fixture
def derivations(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every derivation run, as the passphrase it was given (the real derivation still runs)."""
    runs: list = []
    real = kdf._derive

    def counting(request: tuple) -> bytes:
        runs.append(request[0])
        return real(request)

    monkeypatch.setattr(kdf, "_derive", counting)
    return runs


def make_key_file(tmp_path: Path, kind: str = "scrypt") -> Path:
    create_layout(
        str(tmp_path / "repo"), passphrase=PASSPHRASE, encryption="aes-256-gcm", hash_algorithm="blake3", kdf=kind
    )
    return tmp_path / "repo" / KEY_FILE


def settings_in(path: Path) -> kdf.KdfSettings:
    return kdf.settings_from(json.loads(path.read_text()))


@pytest.mark.parametrize(
    ("kind", "fields"),
    [("scrypt", {"n": 32768, "r": 8, "p": 1}), ("argon2id", {"memory_kib": 65536, "iterations": 3, "lanes": 4})],
)
def test_each_derivation_writes_its_costs_and_unlocks_only_with_the_passphrase(tmp_path: Path, kind, fields) -> None:
    key_file = make_key_file(tmp_path, kind)
    doc = json.loads(key_file.read_text())
    assert doc["kdf"] == kind and {name: doc[name] for name in fields} == fields
    assert kdf.derive_key(PASSPHRASE, settings_in(key_file)) == independent_key(settings_in(key_file))
    assert Repository(str(tmp_path / "repo"), PASSPHRASE).sealer is not None
    with pytest.raises(PassphraseError, match="wrong passphrase"):
        Repository(str(tmp_path / "repo"), "not it")


def test_an_unknown_derivation_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match="unknown key derivation 'pbkdf2'"):
        create_layout(
            str(tmp_path / "repo"),
            passphrase=PASSPHRASE,
            encryption="aes-256-gcm",
            hash_algorithm="blake3",
            kdf="pbkdf2",
        )
    assert not (tmp_path / "repo").exists()


def rewrite(key_file: Path, **fields: object) -> None:
    """Change fields of a key file as a writer would (its checksum kept right), so the fields' checks are reached."""
    doc = json.loads(key_file.read_text())
    doc.update(fields)
    doc[KEY_CHECKSUM] = key_checksum(doc)
    key_file.write_text(json.dumps(doc))


def test_a_key_file_naming_an_unknown_derivation_is_a_clear_error(tmp_path: Path) -> None:
    key_file = make_key_file(tmp_path)
    rewrite(key_file, kdf="md5crypt")
    with pytest.raises(RepositoryError, match=r"malformed.*unknown key derivation 'md5crypt'"):
        Repository(str(tmp_path / "repo"), PASSPHRASE)


def test_argon2id_without_a_recent_cryptography_is_a_dependency_error(tmp_path: Path, monkeypatch) -> None:
    key_file = make_key_file(tmp_path, "argon2id")
    monkeypatch.setitem(__import__("sys").modules, "cryptography.hazmat.primitives.kdf.argon2", None)
    with pytest.raises(DependencyError, match="Argon2id needs the cryptography package, version 44"):
        kdf.derive_key(PASSPHRASE, settings_in(key_file))


@pytest.mark.parametrize("kind", ["scrypt", "argon2id"])
def test_an_early_derivation_gives_the_same_key_and_is_used_once(tmp_path: Path, derivations: list, kind) -> None:
    key_file = make_key_file(tmp_path, kind)
    settings = settings_in(key_file)
    derivations.clear()  # the one that created the key file
    assert kdf.derive_ahead(str(key_file), PASSPHRASE) is not None
    assert kdf.derive_key(PASSPHRASE, settings) == independent_key(settings)
    assert derivations == [PASSPHRASE]
    assert kdf.derive_key(PASSPHRASE, settings) == independent_key(settings)  # the early result is gone
    assert derivations == [PASSPHRASE, PASSPHRASE]
    assert not kdf._early


def test_an_early_derivation_for_another_passphrase_is_not_used(tmp_path: Path, derivations: list) -> None:
    key_file = make_key_file(tmp_path)
    settings = settings_in(key_file)
    derivations.clear()
    kdf.derive_ahead(str(key_file), "typo")
    assert kdf.derive_key(PASSPHRASE, settings) == independent_key(settings)
    assert sorted(derivations) == sorted(["typo", PASSPHRASE])


@pytest.mark.parametrize("content", [None, b"", b"{not json", b'{"kdf": "bcrypt"}', b'{"kdf": "scrypt", "n": 1}'])
def test_nothing_is_started_without_a_usable_key_file(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "master.key"
    if content is not None:
        path.write_bytes(content)
    assert kdf.derive_ahead(str(path), PASSPHRASE) is None
    assert not kdf._early


def test_nothing_is_started_without_a_passphrase(tmp_path: Path) -> None:
    key_file = make_key_file(tmp_path)
    assert kdf.derive_ahead(str(key_file), None) is None
    assert kdf.derive_ahead(str(key_file), "") is None


def test_costs_the_derivation_refuses_fail_the_unlock_not_the_process(tmp_path: Path) -> None:
    key_file = make_key_file(tmp_path)
    rewrite(key_file, n=3)  # not a power of two
    assert kdf.derive_ahead(str(key_file), PASSPHRASE) is not None
    with pytest.raises(ValueError):
        kdf.derive_key(PASSPHRASE, settings_in(key_file))
    with pytest.raises(RepositoryError, match="malformed"):
        Repository(str(tmp_path / "repo"), PASSPHRASE)


@pytest.mark.parametrize(("field", "value"), [("n", 1 << 22), ("r", 1024), ("p", 0)])
def test_a_key_file_asking_too_much_memory_is_refused(tmp_path: Path, field: str, value: int) -> None:
    key_file = make_key_file(tmp_path)
    rewrite(key_file, **{field: value})
    with pytest.raises(ValueError, match="scrypt costs"):
        kdf.derive_key(PASSPHRASE, settings_in(key_file))
    with pytest.raises(RepositoryError, match="malformed"):
        Repository(str(tmp_path / "repo"), PASSPHRASE)


def test_the_command_line_derives_the_key_once_per_run(tmp_path: Path, derivations: list) -> None:
    key_file = make_key_file(tmp_path, "argon2id")
    derivations.clear()
    secret = tmp_path / "secret"
    secret.write_text(PASSPHRASE + "\n")
    out, err = io.StringIO(), io.StringIO()
    status = cli.main(
        ["list", str(key_file.parent.parent), "--passphrase-file", str(secret), "--json"],
        environ={},
        stdout=out,
        stderr=err,
    )
    assert status == 0, err.getvalue()
    assert derivations == [PASSPHRASE]
    assert not kdf._early


def test_a_backup_creating_an_argon2id_repository_restores(tmp_path: Path) -> None:
    source = tmp_path / "vm1.vmcx"
    source.write_bytes(b"configuration " * 5000)
    repo = str(tmp_path / "repo")
    runs.backup(repo, "vm1", [str(source)], passphrase=PASSPHRASE, kdf="argon2id")
    assert json.loads((tmp_path / "repo" / KEY_FILE).read_text())["kdf"] == "argon2id"
    runs.restore(repo, "vm1", str(tmp_path / "out"), passphrase=PASSPHRASE)
    assert (tmp_path / "out" / "vm1.vmcx").read_bytes() == source.read_bytes()


@pytest.mark.parametrize("operation", ["init", "backup"])
def test_the_command_line_creates_an_argon2id_repository_on_request(tmp_path: Path, operation: str) -> None:
    secret = tmp_path / "secret"
    secret.write_text(PASSPHRASE + "\n")
    source = tmp_path / "vm1.vmcx"
    source.write_bytes(b"configuration")
    repo = tmp_path / "repo"
    extra = ["--vm", "vm1", str(source)] if operation == "backup" else []
    out, err = io.StringIO(), io.StringIO()
    status = cli.main(
        [operation, str(repo), "--kdf", "argon2id", "--passphrase-file", str(secret), *extra],
        environ={},
        stdout=out,
        stderr=err,
    )
    assert status == 0, err.getvalue()
    assert json.loads((repo / KEY_FILE).read_text())["kdf"] == "argon2id"
