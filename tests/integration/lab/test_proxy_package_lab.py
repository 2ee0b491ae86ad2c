"""The offhost_proxy role stages the proxy package `make proxy-package` built, verifies it on the proxy, then installs.

One lab of tests/lab/estates/healthy.yml (px1 a fit proxy). `playbooks/offhost_proxy.yml` with
`offhost_proxy_package_src` (test_site_lab.playbook sets it to the built package): px1's package folder
becomes the package, byte for byte, as hard links to the lab's one copy of each file; a second run changes
nothing. A package whose file no longer matches its SHA256SUMS fails the verify step with the file named
and installs nothing; a file altered on the proxy fails the verify of the folder and is the one file the
next staging copies.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_testkit import ESTATES, RunningLab
from test_site_lab import PROXY_PACKAGE, playbook, recap, staged_lab

REPO_ROOT = Path(__file__).resolve().parents[3]
OFFHOST_PROXY = REPO_ROOT / "playbooks" / "offhost_proxy.yml"
STAGED = "hosts/px1/fs/C/ProgramData/backup.hyperv/packages/0.1.0"
ENGINE = "data_mover/datamover.pyz"
ONLY_PX1 = ("--limit", "px1")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningLab, str]]:
    """px1 deployed once from the built package; (lab, output of that first run)."""
    work = tmp_path_factory.mktemp("package")
    with staged_lab(ESTATES / "healthy.yml", work / "lab") as lab:
        rc, output = playbook(lab, work, OFFHOST_PROXY, {}, *ONLY_PX1)
        assert rc == 0, output[-4000:]
        yield lab, output


def test_the_role_stages_the_built_package_and_installs_from_it(deployed: tuple[RunningLab, str]) -> None:
    lab, output = deployed
    staged = lab.state_dir / STAGED
    built = sorted(p.relative_to(PROXY_PACKAGE).as_posix() for p in PROXY_PACKAGE.rglob("*") if p.is_file())
    staged_files = sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file())
    assert staged_files == built  # the installer folder too: lab_host_packages.py staged it from the same build
    assert (staged / ENGINE).read_bytes() == (PROXY_PACKAGE / ENGINE).read_bytes()
    assert os.stat(staged / ENGINE).st_nlink >= 2  # a link to the lab's one copy, not a copy per host
    installed = lab.state_dir / "hosts/px1/fs/C/Program Files/backup.hyperv/DataMover/datamover.pyz"
    assert (
        hashlib.sha256(installed.read_bytes()).digest()
        == hashlib.sha256((PROXY_PACKAGE / ENGINE).read_bytes()).digest()
    )
    assert "TASK [backup.hyperv.offhost_proxy : Stage the proxy package and verify its SHA-256 manifest" in output


def test_a_second_run_changes_nothing(deployed: tuple[RunningLab, str], tmp_path: Path) -> None:
    lab, _ = deployed
    rc, output = playbook(lab, tmp_path, OFFHOST_PROXY, {}, *ONLY_PX1)
    assert rc == 0 and recap(output)["px1"]["changed"] == 0, output[-4000:]


def tampered_copy(target: Path, member: str) -> Path:
    """The built package as hard links, but `member` replaced by other bytes (its SHA256SUMS left as built)."""
    shutil.copytree(PROXY_PACKAGE, target, copy_function=os.link)
    (target / member).unlink()
    (target / member).write_bytes(b"not the data mover the package was built with")
    return target


def test_a_package_file_that_does_not_match_its_sha256sums_fails_the_verify_step(
    deployed: tuple[RunningLab, str], tmp_path: Path
) -> None:
    lab, _ = deployed
    package = tampered_copy(tmp_path / "package", ENGINE)
    extra = {"offhost_proxy_package_src": str(package), "offhost_proxy_package_dest": "C:\\ProgramData\\pkg\\tampered"}
    rc, output = playbook(lab, tmp_path, OFFHOST_PROXY, extra, *ONLY_PX1)
    assert rc == 2, output[-4000:]
    assert "fails its SHA-256 verification (hash differs from SHA256SUMS: data_mover\\\\datamover.pyz)" in output
    assert f"The package at {package} does not match its own SHA256SUMS" in output
    assert "Install the proxy components" not in output.split("fails its SHA-256 verification")[1]


def test_a_file_altered_on_the_proxy_is_refused_then_staged_again_alone(
    deployed: tuple[RunningLab, str], tmp_path: Path
) -> None:
    lab, _ = deployed
    altered = lab.state_dir / STAGED / "data_mover/python/python313._pth"
    altered.unlink()  # replaced, not written into: the staged file is a link to the lab's one copy
    altered.write_bytes(b"python313.zip\r\n.\r\nC:\\elsewhere\r\n")
    rc, output = playbook(lab, tmp_path, OFFHOST_PROXY, {"offhost_proxy_package_src": ""}, *ONLY_PX1)
    assert rc == 2 and "hash differs from SHA256SUMS: data_mover\\\\python\\\\python313._pth" in output, output[-4000:]
    rc, output = playbook(lab, tmp_path, OFFHOST_PROXY, {}, *ONLY_PX1, "--diff")
    assert rc == 0, output[-4000:]
    assert altered.read_bytes() == (PROXY_PACKAGE / "data_mover/python/python313._pth").read_bytes()
    assert (
        "'files': ['data_mover\\\\python\\\\python313._pth']" in output
        or '"data_mover\\\\python\\\\python313._pth"' in output
    )


def test_check_mode_reports_the_staging_and_writes_nothing(deployed: tuple[RunningLab, str], tmp_path: Path) -> None:
    lab, _ = deployed
    extra = {"offhost_proxy_package_dest": "C:\\ProgramData\\pkg\\checked"}
    rc, output = playbook(lab, tmp_path, OFFHOST_PROXY, extra, *ONLY_PX1, "--check")
    assert rc == 0 and recap(output)["px1"]["changed"] == 1, output[-4000:]
    assert not (lab.state_dir / "hosts/px1/fs/C/ProgramData/pkg/checked").exists()
