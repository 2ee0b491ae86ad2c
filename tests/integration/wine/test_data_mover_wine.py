"""The packaged data mover (`make proxy-package`) under Wine: Windows paths, backup, incremental (deduplicated,
then by RCT changed ranges, a chunk patched), verify, restore.

Takes about 40 s on a 2-core machine (prefix creation about 10 s, each python.exe start about 3 s under
Wine); the test fails above 180 s so that `make test` keeps its time. The rig: README.md beside this file.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from rig import WineRig, built_package

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.settings import DataMoverOptions

MiB = 1 << 20
TIME_LIMIT = 180.0


def qemu(tool: str, *arguments: str) -> str:
    done = subprocess.run([tool, *arguments], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "error" not in done.stdout.lower(), (tool, arguments, done.stdout, done.stderr)
    return done.stdout


def write_disk(disk: Path, *writes: str) -> None:
    qemu("qemu-io", "-f", "vhdx", *(part for write in writes for part in ("-c", write)), str(disk))


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WineRig]:
    scratch = tmp_path_factory.mktemp("wine")
    rig = WineRig(scratch / "prefix", scratch / "drive-d", built_package())
    rig.start()
    yield rig
    rig.stop()


def run_document(rig: WineRig, **params: Any) -> dict[str, Any]:
    """The engine's JSON result of one options document on stdin, as data_mover_run.ps1 hands it over."""
    document = DataMoverOptions.from_params(params).to_json()
    done = rig.data_mover("run", "--options", "-", stdin=document)
    assert done.returncode == 0, (done.stdout, done.stderr)
    return json.loads(done.stdout)


def test_backup_incremental_verify_restore_from_a_windows_drive(rig: WineRig) -> None:
    started = time.monotonic()
    disk = rig.drive_root / "VMs" / "web01" / "web01-os.vhdx"
    disk.parent.mkdir(parents=True)
    qemu("qemu-img", "create", "-q", "-f", "vhdx", str(disk), str(64 * MiB))
    write_disk(disk, "write -P 0x5a 0 8M", "write -P 0xc3 40M 4M")
    repository, restored = rig.windows_path(rig.drive_root / "Backup" / "repo"), rig.drive_root / "Restore"
    source = rig.windows_path(disk)
    full = run_document(rig, operation="backup", repository=repository, vm="web01", source=[source])
    write_disk(disk, "write -P 0x11 2M 1M")
    incremental = run_document(rig, operation="backup", repository=repository, vm="web01", source=[source])
    write_disk(disk, "write -P 0x22 41M 64k")  # inside a 1 MiB chunk: stored as a patch over it
    by_ranges = run_document(
        rig,
        operation="backup",
        repository=repository,
        vm="web01",
        source=[source],
        changed_ranges={source: [[41 * MiB, 64 * 1024]]},
    )
    verified = run_document(rig, operation="verify", repository=repository)
    destination = rig.windows_path(restored)
    run_document(rig, operation="restore", repository=repository, vm="web01", destination=destination)
    elapsed = time.monotonic() - started

    assert incremental["stats"]["bytes_stored"] < full["stats"]["bytes_stored"]  # only the changed block is new
    how = by_ranges["incremental"]["web01-os.vhdx"]
    assert how["mode"] == "changed_ranges" and how["patched_chunks"] == 1, how
    assert by_ranges["stats"]["bytes_read"] == 64 * 1024 and by_ranges["stats"]["bytes_read_baseline"] == 0
    assert verified["ok"] is True
    copy = restored / "web01-os.vhdx"
    assert qemu("qemu-img", "compare", str(disk), str(copy)).startswith("Images are identical")
    assert elapsed < TIME_LIMIT, f"the Wine round trip took {elapsed:.0f} s"


# Run by the package's CPython: every engine module of datamover.pyz imports from its .pyc (zipimport prefers it),
# an unchecked hash-based one (flags 1) whose source hash, computed by this CPython, is that of the .py beside it.
BYTECODE_CHECK = r"""
import importlib, importlib.util, json, sys, zipfile
pyz = sys.argv[1]
sys.path.insert(0, pyz)
problems, loaded = [], 0
with zipfile.ZipFile(pyz) as archive:
    names = set(archive.namelist())
    for name in sorted(n for n in names if n.endswith(".py") and n != "__main__.py"):
        pyc = archive.read(name[:-3] + ".pyc") if name[:-3] + ".pyc" in names else b""
        if pyc[4:8] != (1).to_bytes(4, "little") or pyc[8:16] != importlib.util.source_hash(archive.read(name)):
            problems.append(name)
        module = name[:-3].replace("/", ".").removesuffix(".__init__")
        loaded += importlib.import_module(module).__file__.endswith(".pyc")
print(json.dumps({"modules": len([n for n in names if n.endswith(".py")]) - 1, "from_bytecode": loaded,
                  "stale": problems}))
"""


def test_the_engine_imports_from_bytecode_made_for_the_package_cpython(rig: WineRig) -> None:
    pyz = str(rig.package / "data_mover" / "datamover.pyz")
    done = rig.python("-c", BYTECODE_CHECK, pyz)
    assert done.returncode == 0, (done.stdout, done.stderr)
    found = json.loads(done.stdout)
    assert found["stale"] == [], found
    assert found["modules"] > 50 and found["from_bytecode"] == found["modules"], found


def hand_over(rig: WineRig, jobs: Path, server_folder: Path, document: str, stay: int) -> Path:
    """data_mover_start.ps1's hand-over, by hand: the job folder and its options, then the inbox entry."""
    folder = jobs / uuid.uuid4().hex
    folder.mkdir(parents=True)
    (folder / "options.json").write_text(document, encoding="utf-8")
    entry = server_folder / "inbox" / folder.name
    entry.with_suffix(".tmp").write_text(f"data mover server data_mover 0.1.0\n{stay}\n", encoding="utf-8")
    entry.with_suffix(".tmp").rename(entry)
    return folder


def wait_for_file(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{path} did not appear: {process.communicate()}")
        time.sleep(0.05)


def test_the_job_server_runs_jobs_in_turn_and_holds_its_folder_under_windows(rig: WineRig) -> None:
    """`serve` as the server's scheduled task runs it: Windows file locking (msvcrt) keeps a second server out,
    the claim is a Windows rename, and a job that asks for no wait ends the server."""
    jobs = rig.drive_root / "ProgramData" / "jobs"
    server_folder = jobs / "server" / "data_mover 0.1.0"
    pyz = str(rig.package / "data_mover" / "datamover.pyz")
    command = [rig.wine, str(rig.package / "data_mover" / "python" / "python.exe"), pyz, "serve"]
    command += ["--jobs", rig.windows_path(jobs), "--name", "data_mover 0.1.0", "--idle-seconds", "120"]
    streams = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    first = subprocess.Popen(command, env=rig.environment, text=True, **streams)  # a pipe each, as the task has
    try:
        wait_for_file(server_folder / "accepting", first)
        second = subprocess.run(command, env=rig.environment, text=True, timeout=120, **streams)
        assert second.returncode == 0 and "another server holds the folder" in second.stderr, second.stderr
        repository = rig.windows_path(rig.drive_root / "Backup" / "served")
        source = rig.drive_root / "served.raw"
        source.write_bytes(bytes(range(256)) * 4096)
        backup = DataMoverOptions.from_params(
            {"operation": "backup", "repository": repository, "vm": "vm1", "source": [rig.windows_path(source)]}
        ).to_json()
        listing = DataMoverOptions.from_params({"operation": "list", "repository": repository}).to_json()
        stored = hand_over(rig, jobs, server_folder, backup, 120)
        listed = hand_over(rig, jobs, server_folder, listing, 0)
        assert first.wait(timeout=120) == 0, first.stderr.read() if first.stderr else ""
    finally:
        first.kill()
    for folder in (stored, listed):
        assert (folder / "exit_code.txt").read_text() == "0", (folder / "stderr.txt").read_text()
        assert (folder / "claimed").is_file() and not (folder / "options.json").exists()
    assert list(json.loads((listed / "stdout.txt").read_text(encoding="utf-8"))["vms"]) == ["vm1"]
    assert not (server_folder / "accepting").exists()
