"""execution-environment.yml and bindep.txt: the EE builds, and the test tools stay out of it.

No container runtime exists where these tests run, so they check what ``ansible-builder create``
generates (the Containerfile and its build context) instead of building the image. Words used here:

- *runtime packages*: bindep.txt lines without a user profile; every EE that includes the collection
  installs them (ansible-builder runs ``bindep`` with the ``default`` profile).
- *test profile*: lines tagged ``test`` (or ``bench``); only tools/install_system_deps.sh installs them,
  for ``make test``, ``make demo`` and ``make bench``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import metadata
from pathlib import Path

import pytest
import yaml
from bindep.depends import Depends
from packaging.specifiers import SpecifierSet

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILDER = Path(sys.executable).parent / "ansible-builder"
INSTALL_SYSTEM_DEPS = REPO_ROOT / "tools" / "install_system_deps.sh"

# The base image execution-environment.yml chose, and the package manager that image carries
# (ubi9/ubi is the full UBI with dnf; ubi-minimal would need /usr/bin/microdnf).
BASE_IMAGE = "registry.access.redhat.com/ubi9/ubi:latest"
BASE_IMAGE_PACKAGE_MANAGER = "/usr/bin/dnf"
# The profiles bindep detects inside a UBI 9 image, plus the one ansible-builder selects.
EE_PROFILES = ["default", "platform:rpm", "platform:redhat", "platform:rhel", "platform:rhel-9"]
DEBIAN_PROFILES = ["platform:dpkg", "platform:debian", "platform:debian-12"]
# Packages only the tests, the demo or the benchmark use (no plugin runs them).
TEST_ONLY_PACKAGES = {
    "qemu-img",
    "qemu-utils",
    "git",
    "chromium",
    "samba",
    "cifs-utils",
    "restic",
    "borgbackup",
    "gdisk",
    "parted",
    "ntfs-3g",
    "wine64",
    "gcc-mingw-w64-x86-64",
}


@pytest.fixture(scope="module")
def build_context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ansible-builder create`` of the repository's definition; returns the context directory."""
    work = tmp_path_factory.mktemp("ee")
    for name in ("execution-environment.yml", "requirements.txt", "bindep.txt"):
        (work / name).write_bytes((REPO_ROOT / name).read_bytes())
    (work / "build" / "dist").mkdir(parents=True)  # the definition copies the built tarball from here
    command = [str(BUILDER), "create", "--context", "context", "--output-filename", "Containerfile"]
    subprocess.run(command, cwd=work, check=True, capture_output=True)
    return work / "context"


@pytest.fixture(scope="module")
def containerfile(build_context: Path) -> list[str]:
    return (build_context / "Containerfile").read_text(encoding="utf-8").splitlines()


def build_args(lines: list[str]) -> dict[str, str]:
    """The ``ARG NAME="value"`` defaults ansible-builder writes at the top of the Containerfile."""
    pairs = (re.fullmatch(r'ARG (\w+)="(.*)"', line) for line in lines)
    return {match[1]: match[2] for match in pairs if match}


def base_stage(lines: list[str]) -> list[str]:
    start = lines.index("FROM $EE_BASE_IMAGE AS base")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("FROM "))
    return lines[start:end]


def packages(bindep_text: str, profiles: list[str]) -> set[str]:
    depends = Depends(bindep_text)
    return set(depends.list_all_packages(depends.active_rules(profiles)))


def test_the_build_context_carries_the_definition_files(build_context, containerfile):
    assert any("ansible-galaxy collection install" in line for line in containerfile)
    for name in ("requirements.txt", "bindep.txt"):
        assert (build_context / "_build" / name).read_bytes() == (REPO_ROOT / name).read_bytes()


def test_the_base_image_is_the_chosen_one_with_its_package_manager(containerfile):
    args = build_args(containerfile)
    assert (args["EE_BASE_IMAGE"], args.get("PKGMGR")) == (BASE_IMAGE, BASE_IMAGE_PACKAGE_MANAGER)


def test_the_base_stage_installs_the_interpreter_before_using_it(containerfile):
    """ansible-builder's "$PYCMD is not an executable" failure: the first use of the interpreter
    must come after the step that installs the package providing it."""
    args, stage = build_args(containerfile), base_stage(containerfile)
    interpreter = Path(args["PYCMD"]).name
    assert interpreter in args.get("PYPKG", "").split(), f"no package named for {args['PYCMD']}"
    installs = [i for i, line in enumerate(stage) if line.startswith("RUN $PKGMGR install $PYPKG ")]
    uses = [i for i, line in enumerate(stage) if line.startswith("RUN ") and "$PYCMD" in line]
    assert installs and uses and installs[0] < uses[0], stage


def test_the_interpreter_is_one_ansible_core_runs_on(containerfile):
    """ansible-core 2.18 and later need Python 3.11 on the controller; UBI 9's own python3 is 3.9."""
    name = Path(build_args(containerfile)["PYCMD"]).name
    version = re.fullmatch(r"python(\d+\.\d+)", name)
    assert version, f"{name} names no Python version"
    assert version[1] in SpecifierSet(metadata("ansible-core")["Requires-Python"])


def test_the_ansible_core_pin_is_the_requirements_one():
    """ansible-builder needs ansible-core named in the definition: the same pin as requirements.txt."""
    definition = yaml.safe_load((REPO_ROOT / "execution-environment.yml").read_text(encoding="utf-8"))
    requirements = (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    pinned = [line for line in requirements if line.startswith("ansible-core")]
    assert [definition["dependencies"]["ansible_core"]["package_pip"]] == pinned


@pytest.mark.parametrize("profiles", [EE_PROFILES, ["default", *DEBIAN_PROFILES]], ids=["ubi9", "debian"])
def test_no_test_tool_reaches_an_execution_environment(build_context, profiles):
    """What ``bindep`` installs in an EE (the copy in the build context; also any EE that includes the collection)."""
    runtime = packages((build_context / "_build" / "bindep.txt").read_text(encoding="utf-8"), profiles)
    assert not runtime & TEST_ONLY_PACKAGES


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            [],
            {
                "qemu-utils",
                "git",
                "chromium",
                "samba",
                "cifs-utils",
                "gdisk",
                "parted",
                "ntfs-3g",
                "wine64",
                "gcc-mingw-w64-x86-64",
            },
        ),
        (["bench"], {"qemu-utils", "restic", "borgbackup"}),
    ],
    ids=["test", "bench"],
)
def test_install_system_deps_installs_the_profile(arguments, expected):
    """``make test`` and ``make demo`` get the test profile, ``make bench`` the bench profile (Debian)."""
    command = [str(INSTALL_SYSTEM_DEPS), "--list", *arguments]
    environment = dict(os.environ, BINDEP=str(Path(sys.executable).parent / "bindep"))  # this test run's venv
    listed = subprocess.run(command, env=environment, capture_output=True, text=True, check=True).stdout.split()
    assert set(listed) == expected
