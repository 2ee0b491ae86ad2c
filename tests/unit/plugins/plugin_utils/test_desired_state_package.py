"""The proxy package's staging plan and verification (plugins/plugin_utils/desired_state/package.py), and the
package as the controller reads it, folder or zip (plugins/plugin_utils/desired_state/package_source.py)."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest

from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.package import (
    SUMS,
    parse_sums,
    plan_staging,
    require_source_sums,
    verification_message,
    verify_folder,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.package_source import LocalPackage
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.plan import PlanError

FILES = {"data_mover/datamover.pyz": b"engine", "data_mover/python/python.exe": b"MZ runtime"}


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sums_text(files: dict[str, bytes]) -> str:
    return "".join(f"{digest(data)}  {path}\n" for path, data in sorted(files.items()))


def folder(files: dict[str, bytes], sums: str | None) -> dict:
    """A read reply's folder holding `files` (and SHA256SUMS when `sums`), as proxy_package_read.ps1 reports it."""
    listed = [{"Path": path.replace("/", "\\"), "Sha256": digest(data).upper()} for path, data in files.items()]
    if sums is not None:
        listed.append({"Path": SUMS, "Sha256": digest(sums.encode()).upper()})
    return {"Exists": True, "Sums": sums, "Files": listed}


def test_parse_sums_reads_sha256sum_lines_as_windows_paths() -> None:
    assert parse_sums(sums_text(FILES)) == {
        "data_mover\\datamover.pyz": digest(b"engine").upper(),
        "data_mover\\python\\python.exe": digest(b"MZ runtime").upper(),
    }


@pytest.mark.parametrize("text", ["", "abc  data_mover/x\n", f"{'0' * 64}  ../outside\n"])
def test_parse_sums_refuses_what_is_not_a_manifest(text: str) -> None:
    with pytest.raises(PlanError, match=SUMS):
        parse_sums(text)


def test_a_fresh_folder_stages_every_file_and_the_manifest() -> None:
    plan = plan_staging(
        {"Destination": {"Exists": False, "Sums": None, "Files": []}}, sums_text(FILES), {"action": "x"}
    )
    assert plan.steps == [
        {"action": "x", "files": [SUMS, "data_mover\\datamover.pyz", "data_mover\\python\\python.exe"]}
    ]


def test_only_the_file_that_differs_is_staged_and_case_does_not_count() -> None:
    text = sums_text(FILES)
    on_host = folder({**FILES, "data_mover/python/python.exe": b"altered"}, text)
    on_host["Files"][0]["Path"] = "DATA_MOVER\\DataMover.pyz"  # NTFS names compare case-blind
    plan = plan_staging({"Destination": on_host}, text, {"action": "x"})
    assert plan.steps[0]["files"] == ["data_mover\\python\\python.exe"]
    assert plan.before["files"] == {"data_mover\\python\\python.exe": digest(b"altered").upper()}


def test_a_staged_folder_plans_no_step() -> None:
    text = sums_text(FILES)
    plan = plan_staging({"Destination": folder(FILES, text)}, text, {"action": "x"})
    assert plan.steps == [] and plan.before == plan.after


def test_verify_names_mismatched_missing_and_extra_files_but_not_other_packages_folders() -> None:
    text = sums_text(FILES)
    on_host = folder(
        {
            "data_mover/datamover.pyz": b"tampered",
            "data_mover/extra.dll": b"x",
            "installer/BackupHyperVInstaller.exe": b"MZ",
        },
        text,
    )
    verification = verify_folder(on_host)
    assert verification.mismatched == ["data_mover\\datamover.pyz"]
    assert verification.missing == ["data_mover\\python\\python.exe"]
    assert verification.extra == ["data_mover\\extra.dll"]
    message = verification_message("C:\\pkg", verification, "/build/package")
    assert "hash differs from SHA256SUMS: data_mover\\datamover.pyz" in message
    assert (
        "missing: data_mover\\python\\python.exe" in message and "not in SHA256SUMS: data_mover\\extra.dll" in message
    )
    assert "make proxy-package" in message and "Remove the files not in SHA256SUMS from C:\\pkg" in message


def test_verify_passes_the_package_and_fails_a_folder_without_its_manifest() -> None:
    text = sums_text(FILES)
    assert verify_folder(folder(FILES, text)).ok
    assert verify_folder(folder(FILES, None)).missing == [SUMS]


def test_a_share_without_the_package_fails_before_any_step() -> None:
    with pytest.raises(PlanError, match="cannot be read from the proxy"):
        require_source_sums({"Source": {"Exists": False, "Sums": None}}, "\\\\fs1\\packages\\0.1.0")
    with pytest.raises(PlanError, match="holds no SHA256SUMS"):
        require_source_sums({"Source": {"Exists": True, "Sums": None}}, "\\\\fs1\\packages\\0.1.0")


def write_package(root: Path) -> Path:
    for path, data in FILES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    (root / SUMS).write_text(sums_text(FILES))
    return root


@pytest.mark.parametrize("as_zip", [False, True])
def test_the_controller_reads_a_folder_or_its_zip_and_sends_only_the_files_asked(tmp_path: Path, as_zip: bool) -> None:
    package = write_package(tmp_path / "package")
    if as_zip:
        package = Path(shutil.make_archive(str(tmp_path / "package-0.1.0"), "zip", package))
    local = LocalPackage(str(package))
    assert local.sums_text() == sums_text(FILES)
    local.write_zip(["data_mover\\datamover.pyz"], tmp_path / "sent.zip")
    with zipfile.ZipFile(tmp_path / "sent.zip") as archive:
        assert (
            archive.namelist() == ["data_mover/datamover.pyz"] and archive.read("data_mover/datamover.pyz") == b"engine"
        )


def test_a_path_that_is_not_a_package_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="neither a package folder nor a zip"):
        LocalPackage(str(tmp_path / "nothing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(PlanError, match="holds no SHA256SUMS"):
        LocalPackage(str(tmp_path / "empty"))
