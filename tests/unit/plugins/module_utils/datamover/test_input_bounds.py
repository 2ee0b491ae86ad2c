"""Bounded inputs and a damaged key file (issue 17): ``workers`` and ``lock_timeout`` out of range fail with a
clear error before anything opens; a damaged key file says so instead of blaming the passphrase."""

from __future__ import annotations

import io
import json

import pytest
import runs

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import cli
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import (
    DataMoverError,
    PassphraseError,
    RepositoryError,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.settings import DataMoverOptions


@pytest.mark.parametrize("workers", [0, -2, 257, True, "4", 2.5])
def test_workers_out_of_range_fail_before_anything_opens(tmp_path, workers):
    with pytest.raises(DataMoverError, match=r"workers must be a whole number from 1 to 256"):
        runs.verify(str(tmp_path / "no-repository"), workers=workers)


@pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf"), 1e9, "soon", False])
def test_lock_timeout_out_of_range_fails_before_anything_opens(tmp_path, seconds):
    with pytest.raises(DataMoverError, match=r"lock_timeout must be a number of seconds from 0 to 86400"):
        runs.verify(str(tmp_path / "no-repository"), lock_timeout=seconds)


def test_bounds_hold_in_an_options_document_and_on_the_command_line(tmp_path):
    document = {"schema": 2, "operation": "verify", "repository": str(tmp_path), "workers": 100000}
    with pytest.raises(DataMoverError, match="workers must be"):
        DataMoverOptions.from_json(json.dumps(document))
    err = io.StringIO()
    status = cli.main(["verify", str(tmp_path / "none"), "--lock-timeout", "nan"], environ={}, stderr=err)
    assert status == 1 and "lock_timeout must be" in err.getvalue() and "Traceback" not in err.getvalue()
    assert runs.options("verify", tmp_path, workers=256, lock_timeout=86400).access.workers == 256


@pytest.fixture
def encrypted(tmp_path):
    runs.init(str(tmp_path / "repo"), passphrase="right")
    return tmp_path / "repo", tmp_path / "repo" / "keys" / "master.key"


def flip_wrapped_key(key_file) -> dict:
    """Change one base64 digit of the wrapped key: still valid base64 and JSON, no longer the key."""
    document = json.loads(key_file.read_text())
    wrapped = document["wrapped_key"]
    document["wrapped_key"] = ("B" if wrapped[5] == "A" else "A").join((wrapped[:5], wrapped[6:]))
    return document


def test_a_damaged_key_file_is_reported_as_damaged_not_as_a_wrong_passphrase(encrypted):
    repo, key_file = encrypted
    with pytest.raises(PassphraseError, match=r"wrong passphrase: it does not unlock the repository key$"):
        runs.points(repo, passphrase="wrong")
    key_file.write_text(json.dumps(flip_wrapped_key(key_file)))
    with pytest.raises(RepositoryError, match=r"key file \(keys/master.key\) is damaged, not the passphrase wrong"):
        runs.points(repo, passphrase="right")
    key_file.write_bytes(key_file.read_bytes()[:-20])
    with pytest.raises(RepositoryError, match=r"is damaged, not the passphrase wrong: .* it is not JSON"):
        runs.points(repo, passphrase="right")


def test_a_key_file_without_a_checksum_still_opens_and_says_it_cannot_tell(encrypted):
    repo, key_file = encrypted
    document = json.loads(key_file.read_text())
    del document["sha256"]
    key_file.write_text(json.dumps(document))
    assert runs.points(repo, passphrase="right") == {"vms": {}, "damaged": [], "ok": True}
    key_file.write_text(json.dumps(flip_wrapped_key(key_file)))
    with pytest.raises(PassphraseError, match=r"or the key file, written before key checksums, is damaged"):
        runs.points(repo, passphrase="right")
