"""File-level restore onto a Windows host path: guest files extracted from a real NTFS test disk into a UNC
destination served by Samba on loopback (samba_server.py), written through SMB, and compared by SHA-256 with what
was put in. The same refusals as a local folder: an existing file without overwrite, a '..' destination."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Iterator, Tuple

import pytest
import runs
from guest_disks import Volume, content, gpt_disk, to_vhdx
from samba_server import PASSWORD, Share, samba_share

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import cli
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError

MiB = 1 << 20
BIG = content("big-smb", 3 * MiB + 4321)
FILES = {"\\Docs\\notes.txt": content("notes", 123), "\\Docs\\big.bin": BIG, "\\Docs\\zeros.bin": bytes(MiB)}
ODD = {"\\we:ird*name?.txt": b"odd"}  # a name Windows refuses: written as we_ird_name_.txt


@pytest.fixture(scope="module")
def repo_and_share(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[Path, Share]]:
    folder = tmp_path_factory.mktemp("guest-smb")
    volume = Volume("Data", 32 * MiB)
    volume.folders = ["\\Docs"]
    volume.files = dict(FILES)
    volume.driver_files = dict(ODD)
    gpt_disk(folder / "gpt.raw", 64 * MiB, [volume])
    runs.backup(folder / "repo", "web01", [str(to_vhdx(folder / "gpt.raw"))])
    with samba_share(folder) as share:
        yield folder / "repo", share


def smb(share: Share, destination: str, **params) -> dict:
    credentials = {"smb_username": share.user, "smb_password": PASSWORD, "smb_port": share.port}
    return {"vm": "web01", "destination": destination, **credentials, **params}


def test_a_folder_is_extracted_onto_a_unc_path_with_its_hashes(repo_and_share):
    repo, share = repo_and_share
    result = runs.run("restore_file", repo, path="\\", **smb(share, share.unc + "\\restored\\ann"))
    written = share.folder / "restored" / "ann" / "Data"
    for path, data in FILES.items():
        name = path.rsplit("\\", 1)[1]
        assert hashlib.sha256((written / "Docs" / name).read_bytes()).digest() == hashlib.sha256(data).digest()
    assert (written / "we_ird_name_.txt").read_bytes() == b"odd"
    assert share.unc + "\\restored\\ann\\Data\\Docs\\notes.txt" in [o["target"] for o in result["outputs"]]
    assert result["bytes_written"] == sum(len(data) for data in (*FILES.values(), *ODD.values()))
    assert not [p for p in written.rglob("*.restoring")]


def test_an_existing_file_on_the_share_is_kept_unless_overwrite(repo_and_share):
    repo, share = repo_and_share
    params = smb(share, share.unc + "\\kept", path="\\Docs\\notes.txt")
    runs.run("restore_file", repo, **params)
    (share.folder / "kept" / "notes.txt").write_bytes(b"mine")
    with pytest.raises(DataMoverError, match=r"destination exists: .*notes.txt.* \(set overwrite to replace\)"):
        runs.run("restore_file", repo, **params)
    assert (share.folder / "kept" / "notes.txt").read_bytes() == b"mine"
    runs.run("restore_file", repo, overwrite=True, **params)
    assert (share.folder / "kept" / "notes.txt").read_bytes() == FILES["\\Docs\\notes.txt"]


def test_a_destination_that_climbs_out_is_refused_and_check_mode_writes_nothing(repo_and_share):
    repo, share = repo_and_share
    with pytest.raises(DataMoverError, match=r"'\.' or '\.\.' component"):
        runs.run("restore_file", repo, path="\\Docs", **smb(share, share.unc + "\\a\\..\\..\\b"))
    planned = runs.run("restore_file", repo, path="\\Docs", check_mode=True, **smb(share, share.unc + "\\dry"))
    assert planned["bytes_written"] == 0 and planned["outputs"] and not (share.folder / "dry").exists()


def test_a_wrong_password_is_an_error_naming_the_destination(repo_and_share):
    repo, share = repo_and_share
    params = {**smb(share, share.unc + "\\denied"), "smb_password": "wrong"}
    with pytest.raises(DataMoverError, match=r"\\denied failed: the server refused the SMB logon"):
        runs.run("restore_file", repo, path="\\Docs\\notes.txt", **params)


def test_the_command_line_extracts_onto_a_unc_path(repo_and_share, tmp_path):
    repo, share = repo_and_share
    secret = tmp_path / "smb-password"
    secret.write_text(PASSWORD + "\n")
    argv = ["restore-file", str(repo), "\\Docs\\big.bin", share.unc + "\\cli", "--vm", "web01", "--json"]
    argv += ["--smb-username", share.user, "--smb-password-file", str(secret), "--smb-port", str(share.port)]
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(argv, environ={}, stdout=out, stderr=err) == 0, err.getvalue()
    assert PASSWORD not in out.getvalue() + err.getvalue()
    assert (share.folder / "cli" / "big.bin").read_bytes() == BIG
