"""The hyperv-datamover command line: option parsing, passphrase sources, output, progress, exit status.

End-to-end tests back up real VHDX files made by qemu-img (qemu.py) and judge restores with `qemu-img compare`;
one runs the real launcher bin/hyperv-datamover in a subprocess.
"""

from __future__ import annotations

import io
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from qemu import convert_to_vhdx, make_raw, qemu_img

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import cli
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import DiskChanges

MiB = 1 << 20
REPO_ROOT = Path(__file__).resolve().parents[5]
LAUNCHER = REPO_ROOT / "bin" / "hyperv-datamover"
PASSPHRASE = "s3cret passphrase"


@pytest.fixture
def disk(tmp_path: Path) -> Path:
    raw = tmp_path / "disk-src.raw"
    make_raw(raw, 24 * MiB, [(0, 2 * MiB, "data"), (4 * MiB, MiB, "zero"), (9 * MiB, 3 * MiB, "data")])
    return convert_to_vhdx(raw, tmp_path / "web01-os.vhdx", block_size="1M")


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase.txt"
    path.write_text(PASSPHRASE + "\n")
    return path


def run(*argv: str, environ: dict | None = None) -> tuple:
    """cli.main() with captured streams: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    status = cli.main(list(argv), environ=environ or {}, stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("text", "size"), [("1M", MiB), ("256K", 256 << 10), ("512KiB", 512 << 10), (8 * MiB, 8 * MiB), ("2mb", 2 * MiB)]
)
def test_block_size_accepts_bytes_and_units(text, size):
    assert cli.parse_block_size(text) == size


@pytest.mark.parametrize("text", ["3M", "128K", "16M", "lots", "-1M"])
def test_block_size_refuses_what_the_format_cannot_store(text):
    with pytest.raises(DataMoverError, match="block_size"):
        cli.parse_block_size(text)


def test_changed_ranges_accept_dicts_and_pairs_and_refuse_nonsense():
    parsed = cli.parse_changed_ranges({"a.vhdx": [{"offset": 0, "length": 4096}, [8192, 512]], "b.vhdx": []})
    assert parsed == {"a.vhdx": DiskChanges(((0, 4096), (8192, 512))), "b.vhdx": DiskChanges(())}
    for bad in ({"a": [{"offset": 0}]}, {"a": [[1, 0]]}, {"a": [["1", 2]]}, {"a": [[True, 2]]}):
        with pytest.raises(DataMoverError, match="changed_ranges for a"):
            cli.parse_changed_ranges(bad)


def test_changed_ranges_are_keyed_by_the_source_they_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sources = ["disks/a.vhdx", str(tmp_path / "b.vhdx")]
    ranges = {str(tmp_path / "disks" / "a.vhdx"): [(0, 1)], "b.vhdx": [(2, 3)]}
    assert cli.ranges_by_source(ranges, sources) == {"disks/a.vhdx": [(0, 1)], sources[1]: [(2, 3)]}
    with pytest.raises(DataMoverError, match=r"changed_ranges names c\.vhdx, which is not one of the sources"):
        cli.ranges_by_source({"c.vhdx": []}, sources)


@pytest.mark.parametrize("option", ["changed_ranges", "change_ids"])
def test_two_keys_naming_one_source_are_refused_not_one_dropped(tmp_path, monkeypatch, option):
    """The last key would win: the other's ranges would never be read (a restore point missing changes), or the
    wrong change id recorded."""
    monkeypatch.chdir(tmp_path)
    sources = [str(tmp_path / "d.vhdx")]
    for twice in ({sources[0]: [(0, 1)], "d.vhdx": [(5, 1)]}, {"./d.vhdx": [(0, 1)], sources[0]: [(5, 1)]}):
        with pytest.raises(DataMoverError, match=rf"{option} names source .*d\.vhdx twice .*give each disk once"):
            cli.ranges_by_source(twice, sources, option)


def test_progress_line_shows_percent_rate_and_eta():
    line = cli.ProgressBar.render(done=50 * MiB, total=200 * MiB, elapsed=2.0)
    assert "25.0%" in line and "50.0 MiB/200.0 MiB" in line and "25.0 MiB/s" in line and "ETA 0:06" in line


def test_progress_bar_redraws_at_most_once_per_interval_but_always_at_the_end():
    now = [0.0]
    stream = io.StringIO()
    progress_bar = cli.ProgressBar(stream, interval=1.0, clock=lambda: now[0])
    for step in range(1, 11):
        now[0] = step * 0.25
        progress_bar(step, 10)
    assert stream.getvalue().count("\r") == 4  # at 0.25 s, 1.25 s, 2.25 s and the final 100 %
    assert "100.0%" in stream.getvalue().rsplit("\r", 1)[-1]


def test_passphrase_comes_from_file_then_environment_never_argv(secret_file):
    assert cli.read_passphrase(str(secret_file), {cli.PASSPHRASE_ENV: "other"}) == PASSPHRASE
    assert cli.read_passphrase(None, {cli.PASSPHRASE_ENV: "from-env"}) == "from-env"
    assert cli.read_passphrase(None, {}) is None
    with pytest.raises(DataMoverError, match="cannot read passphrase file"):
        cli.read_passphrase("/nonexistent/pass", {})
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["backup", "repo", "disk.vhdx", "--vm", "x", "--passphrase", "p"])


def test_encrypted_backup_restore_verify_round_trip(tmp_path, disk, secret_file):
    repo, target = str(tmp_path / "repo"), tmp_path / "out"
    key = ["--passphrase-file", str(secret_file)]
    assert run("init", repo, "--encryption", "chacha20-poly1305", *key)[0] == 0
    status, out, _err = run("backup", repo, str(disk), "--vm", "web01", "--json", *key)
    backup = json.loads(out)
    assert status == 0 and backup["stats"]["bytes_read"] <= 6 * MiB and backup["restore_point"]
    status, out, _err = run("list", repo, "--json", environ={cli.PASSPHRASE_ENV: PASSPHRASE})
    assert [p["id"] for p in json.loads(out)["vms"]["web01"]] == [backup["restore_point"]]
    status, out, _err = run("list", repo, *key)
    assert out.splitlines()[0] == "web01: 1 restore point(s)" and backup["restore_point"] in out.splitlines()[1]
    assert run("restore", repo, str(target), "--vm", "web01", *key)[0] == 0
    assert qemu_img("compare", str(disk), str(target / "web01-os.vhdx")).startswith("Images are identical")
    status, out, _err = run("verify", repo, *key)
    assert status == 0 and "ok: True" in out


def test_wrong_passphrase_is_a_one_line_error_with_status_1(tmp_path, disk, secret_file):
    repo = str(tmp_path / "repo")
    run("backup", repo, str(disk), "--vm", "web01", "--passphrase-file", str(secret_file))
    status, out, err = run("list", repo, environ={cli.PASSPHRASE_ENV: "wrong"})
    assert status == 1 and out == "" and err.startswith("hyperv-datamover: error: ") and err.count("\n") == 1


def test_verify_exits_3_when_a_pack_is_damaged(tmp_path, disk):
    repo = tmp_path / "repo"
    run("backup", str(repo), str(disk), "--vm", "web01")
    pack = max(repo.rglob("*.pack"), key=lambda p: p.stat().st_size)
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0x01
    pack.write_bytes(bytes(data))
    status, out, _err = run("verify", str(repo), "--json")
    assert status == 3 and json.loads(out)["ok"] is False


def test_dry_run_backup_creates_nothing_and_changed_ranges_limit_reads(tmp_path, disk):
    repo = tmp_path / "repo"
    status, out, _err = run("backup", str(repo), str(disk), "--vm", "web01", "--dry-run", "--json")
    assert status == 0 and json.loads(out)["stats"]["bytes_read"] > 0 and not repo.exists()
    run("backup", str(repo), str(disk), "--vm", "web01")
    ranges = tmp_path / "rct.json"
    ranges.write_text(json.dumps({str(disk): [[9 * MiB + 100, 10]]}))
    status, out, _err = run("backup", str(repo), str(disk), "--vm", "web01", "--changed-ranges", str(ranges), "--json")
    assert status == 0 and json.loads(out)["stats"]["bytes_read"] == 4096  # the range's sector, not its chunk


def test_unreadable_changed_ranges_file_is_reported(tmp_path, disk):
    bad = tmp_path / "rct.json"
    bad.write_text("{not json")
    status, _out, err = run("backup", str(tmp_path / "repo"), str(disk), "--vm", "v", "--changed-ranges", str(bad))
    assert status == 1 and f"cannot read changed ranges from {bad}" in err


def test_launcher_finds_the_checkout_or_a_configured_collection_path(tmp_path):
    find = runpy.run_path(str(LAUNCHER))["collections_root"]
    assert find(LAUNCHER, {}) == REPO_ROOT / "build" / "collections"
    installed = tmp_path / "collections"
    module_utils = installed / "ansible_collections/backup/hyperv/plugins/module_utils/datamover"
    module_utils.mkdir(parents=True)
    (module_utils / "cli.py").write_text("")
    assert find(LAUNCHER, {"ANSIBLE_COLLECTIONS_PATH": f"/nowhere{os.pathsep}{installed}"}) == installed


def test_launcher_runs_a_backup_with_a_progress_bar(tmp_path, disk):
    command = [
        sys.executable,
        str(LAUNCHER),
        "backup",
        str(tmp_path / "repo"),
        str(disk),
        "--vm",
        "web01",
        "--progress",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert "100.0%" in result.stderr and "ETA" in result.stderr and "restore_point: " in result.stdout
