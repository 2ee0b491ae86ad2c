"""Job mode of the command line: ``backup --job`` and ``restore --job`` run several VMs in one process.

Disks are real VHDX files made by qemu-img (qemu.py); restores are judged by `qemu-img compare`.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import runs
from qemu import convert_to_vhdx, make_raw, qemu_img

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import cli

MiB = 1 << 20
PASSPHRASE = "job passphrase"


def run(*argv: str) -> tuple:
    """cli.main() with captured streams and the passphrase in the environment: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    status = cli.main(list(argv), environ={cli.PASSPHRASE_ENV: PASSPHRASE}, stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def vms(tmp_path: Path) -> dict:
    """Two VMs, each one VHDX disk and one configuration file."""
    found = {}
    for number, name in enumerate(("web01", "db01")):
        folder = tmp_path / "src" / name
        folder.mkdir(parents=True)
        make_raw(tmp_path / f"{name}.raw", 16 * MiB, [(number * MiB, 2 * MiB, "data"), (9 * MiB, MiB, "data")])
        disk = convert_to_vhdx(tmp_path / f"{name}.raw", folder / f"{name}-os.vhdx", block_size="1M")
        config = folder / f"{name}.vmcx"
        config.write_bytes(name.encode() * 3000)
        found[name] = [disk, config]
    return found


def job_file(tmp_path: Path, entries: object, name: str = "job.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(entries))
    return str(path)


def backup_entries(vms: dict) -> list:
    return [{"vm": vm, "sources": [str(p) for p in paths]} for vm, paths in vms.items()]


def test_backup_and_restore_jobs_round_trip_every_vm(tmp_path, vms):
    repo = str(tmp_path / "repo")
    status, out, _err = run("backup", repo, "--job", job_file(tmp_path, backup_entries(vms)), "--json")
    reply = json.loads(out)
    assert status == 0 and reply["changed"] and reply["failed_vms"] == []
    assert [r["vm"] for r in reply["results"]] == ["web01", "db01"] and all(
        r["restore_point"] for r in reply["results"]
    )
    listing = runs.points(repo, passphrase=PASSPHRASE)["vms"]
    assert {vm: [p["id"] for p in points] for vm, points in listing.items()} == {
        r["vm"]: [r["restore_point"]] for r in reply["results"]
    }
    restores = [{"vm": vm, "destination": str(tmp_path / "out" / vm)} for vm in vms]
    status, out, _err = run("restore", repo, "--job", job_file(tmp_path, restores, "restore.json"), "--json")
    assert status == 0 and [r["vm"] for r in json.loads(out)["results"]] == ["web01", "db01"]
    for vm, (disk, config) in vms.items():
        assert qemu_img("compare", str(disk), str(tmp_path / "out" / vm / disk.name)).startswith("Images are identical")
        assert (tmp_path / "out" / vm / config.name).read_bytes() == config.read_bytes()


def test_job_changed_ranges_read_only_the_changed_chunks(tmp_path, vms):
    repo = str(tmp_path / "repo")
    run("backup", repo, "--job", job_file(tmp_path, backup_entries(vms)))
    entries = backup_entries(vms)
    entries[0]["changed_ranges"] = {vms["web01"][0].name: [[9 * MiB + 10, 100]]}
    status, out, _err = run("backup", repo, "--job", job_file(tmp_path, entries), "--json")
    web01, db01 = json.loads(out)["results"]
    assert status == 0 and web01["incremental"]["web01-os.vhdx"]["mode"] == "changed_ranges"
    assert web01["stats"]["bytes_read"] == 4096 + vms["web01"][1].stat().st_size  # the range's sector (partial chunk)
    assert db01["incremental"]["db01-os.vhdx"]["mode"] == "full"


def test_a_failing_vm_fails_alone_and_the_job_exits_1(tmp_path, vms):
    repo = str(tmp_path / "repo")
    entries = backup_entries(vms)
    entries.insert(0, {"vm": "gone01", "sources": [str(tmp_path / "gone.vhdx")]})
    status, out, err = run("backup", repo, "--job", job_file(tmp_path, entries), "--json")
    results = {r["vm"]: r for r in json.loads(out)["results"]}
    assert status == 1 and "backup failed for VM gone01" in err
    assert results["gone01"]["failed"] and "does not exist" in results["gone01"]["msg"]
    assert not results["web01"]["failed"] and not results["db01"]["failed"]
    assert sorted(runs.points(repo, passphrase=PASSPHRASE)["vms"]) == ["db01", "web01"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read job file"),
        ({"vm": "web01"}, "non-empty list"),
        ([], "non-empty list"),
        (["web01"], "job entry 1 is not an object"),
        ([{"vm": "web01"}], "job entry 1 lacks sources"),
        ([{"vm": "web01", "sources": "a.vhdx"}], "sources must be a list of paths"),
        ([{"vm": "web01", "sources": ["a.vhdx"], "source": ["b"]}], "unknown key(s) source"),
        ([{"vm": "a", "sources": ["a.vhdx"]}, {"vm": "a", "sources": ["b.vhdx"]}], "name VM a more than once"),
        ([{"vm": "a", "sources": ["a.vhdx"], "changed_ranges": {"c.vhdx": []}}], "names c.vhdx, which is not"),
        ([{"vm": "a", "sources": ["a.vhdx"], "changed_ranges": {"a.vhdx": [[0, 0]]}}], "length > 0"),
        ([{"vm": "a", "sources": ["a.vhdx"], "parents": {"c.vhdx": ["p.vhdx"]}}], "parents names c.vhdx, which is not"),
        ([{"vm": "a", "sources": ["a.vhdx"], "parents": {"a.vhdx": []}}], "non-empty list of its parents' paths"),
        ([{"vm": "a", "sources": ["a.vhdx"], "parents": {"a.vhdx": "p.vhdx"}}], "non-empty list of its parents' paths"),
    ],
)
def test_bad_job_files_fail_clearly_and_write_nothing(tmp_path, content, message):
    path = tmp_path / "job.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    repo = tmp_path / "repo"
    status, out, err = run("backup", str(repo), "--job", str(path))
    assert status == 1 and out == "" and message in err and err.count("\n") == 1
    assert not repo.exists()


def test_bad_restore_job_entries_are_refused_before_anything_is_written(tmp_path):
    bad = [{"vm": "web01", "destination": str(tmp_path / "out"), "format": "qcow2"}]
    status, _out, err = run("restore", str(tmp_path / "repo"), "--job", job_file(tmp_path, bad))
    assert status == 1 and "format must be one of vhdx, raw" in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["backup", "repo", "--job", "job.json", "--vm", "web01"],
        ["backup", "repo", "--job", "job.json", "disk.vhdx"],
        ["backup", "repo", "disk.vhdx"],
        ["backup", "repo", "--vm", "web01"],
        ["restore", "repo", "out", "--job", "job.json"],
        ["restore", "repo", "--vm", "web01"],
    ],
)
def test_job_and_single_vm_forms_do_not_mix(argv):
    with pytest.raises(SystemExit) as exit_info:
        run(*argv)
    assert exit_info.value.code == 2


def test_sources_may_follow_options(tmp_path, vms):
    disk, config = vms["web01"]
    status, out, _err = run(
        "backup", str(tmp_path / "repo"), "--vm", "web01", "--compression", "fast", str(disk), str(config), "--json"
    )
    assert status == 0 and [f["name"] for f in json.loads(out)["files"]] == [config.name]


def test_dry_run_job_estimates_every_vm_and_creates_nothing(tmp_path, vms):
    repo = tmp_path / "repo"
    status, out, _err = run(
        "backup", str(repo), "--job", job_file(tmp_path, backup_entries(vms)), "--dry-run", "--json"
    )
    results = json.loads(out)["results"]
    assert status == 0 and not repo.exists()
    assert [r["restore_point"] for r in results] == [None, None] and all(r["stats"]["bytes_read"] for r in results)
