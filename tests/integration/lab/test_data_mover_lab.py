"""`backup.hyperv.data_mover` on lab proxies through `ansible-playbook`: the installed engine, one round trip a task.

px1 is reached over psrp, px2 over winrm (tests/lab/estates/fresh-proxy.yml). Without the data mover
component a task fails with R3 and says how to install it. With it (installed by
`backup.hyperv.proxy_components` from the default manifest with the engine file renamed, and no
variable of the role set, so the proxy's own record must say where the engine is), a real qemu-img VHDX on the emulated
host is backed up into an encrypted repository, verified and restored by the collection's engine,
which the lab runs on the host's files; `qemu-img compare` finds the restored disk equal to the
original, and the passphrase appears nowhere in Ansible's output. The handler's own
paths (UNC, names Windows refuses) are in test_data_mover_run_lab.py.
"""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from lab_testkit import ESTATES, ansible_environment, estate_lab, handled_since, run_lab
from test_installs_lab import MANIFEST, stage_component_sources

# isort: split


PROXIES = ("px1", "px2")
PASSPHRASE = "Lab-Vault-Passphrase-7f3c"
DISK = "C:\\VMs\\web01\\web01-os.vhdx"
REPOSITORY = "C:\\Backup\\repo"
DESTINATION = "C:\\Restore\\web01"
DB_DISK = "C:\\VMs\\db01\\db01-data.vhdx"
DISK_SIZE = 64 << 20
ENGINE = "engine\\datamover-0.1.pyz"
RANGES = {DISK: [{"offset": 5 << 20, "length": 65536}]}  # keyed by the Windows path, as RCT reports it


def windows_file(lab, host: str, windows_path: str) -> Path:
    return lab.host_file(host, windows_path[0], *windows_path[3:].split("\\"))


def make_vhdx(work: Path, name: str = "web01-os", seed: int = 7) -> Path:
    """A dynamic VHDX with scattered data, repeated blocks and holes: qemu-img writes it from a raw image."""
    raw = work / f"{name}.raw"
    generator = random.Random(seed)
    block = generator.randbytes(1 << 20)
    with raw.open("wb") as image:
        image.truncate(DISK_SIZE)
        for offset in (0, 5 << 20, 9 << 20, 40 << 20):
            image.seek(offset)
            image.write(generator.randbytes(1 << 20))
        for offset in (20 << 20, 33 << 20):  # the same block twice: stored once
            image.seek(offset)
            image.write(block)
    vhdx = work / f"{name}.vhdx"
    convert = ["qemu-img", "convert", "-q", "-f", "raw", "-O", "vhdx", str(raw), str(vhdx)]
    subprocess.run(convert, check=True, timeout=60)
    return vhdx


def run_playbook(lab, work: Path, name: str, plays: list[dict]) -> subprocess.CompletedProcess[str]:
    """`ansible-playbook -v` of `plays`; the passphrase comes from a vars file, as from a vault."""
    playbook, secrets = work / f"{name}.yml", work / "secrets.yml"
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False))
    secrets.write_text(yaml.safe_dump({"vault_passphrase": PASSPHRASE}))
    ansible_playbook = str(Path(sys.executable).with_name("ansible-playbook"))
    command = [ansible_playbook, "-i", str(lab.inventory), "-e", f"@{secrets}", str(playbook), "-v"]
    return subprocess.run(
        command, capture_output=True, text=True, env=ansible_environment(work), timeout=300, check=False
    )


def data_mover_task(register: str, **args) -> dict:
    return {"name": register, "backup.hyperv.data_mover": args, "register": register}


def save_results_play(work: Path, names: tuple[str, ...]) -> dict:
    """A localhost play writing each proxy's registered results to results-<host>.json."""
    tasks = [
        {
            "ansible.builtin.copy": {
                "content": "{{ {" + ", ".join(f"'{n}': hostvars[item].{n}" for n in names) + "} | to_json }}",
                "dest": f"{work}/results-{{{{ item }}}}.json",
                "mode": "0600",
            },
            "loop": list(PROXIES),
        }
    ]
    return {"hosts": "localhost", "gather_facts": False, "tasks": tasks}


def saved(work: Path, host: str) -> dict:
    return json.loads((work / f"results-{host}.json").read_text())


@pytest.fixture
def proxy_lab(tmp_path: Path):
    with estate_lab(ESTATES / "fresh-proxy.yml", tmp_path / "lab") as lab:
        yield lab


def test_without_the_component_the_task_fails_with_r3(proxy_lab, tmp_path):
    before = {host: len(proxy_lab.log(host)) for host in PROXIES}
    task = data_mover_task("listed", operation="list", repository=REPOSITORY)
    play = {"hosts": "offhost_proxies", "gather_facts": False, "tasks": [{**task, "ignore_errors": True}]}
    completed = run_playbook(proxy_lab, tmp_path, "r3", [play, save_results_play(tmp_path, ("listed",))])
    assert completed.returncode == 0, completed.stdout + completed.stderr
    for host in PROXIES:
        result = saved(tmp_path, host)["listed"]
        assert result["failed"] is True
        assert result["msg"].startswith("R3: the data mover component is not installed on " + host)
        assert "no record with Role data_mover under HKLM:\\SOFTWARE\\backup.hyperv\\Components" in result["msg"]
        assert "backup.hyperv.offhost_proxy" in result["msg"] and "backup.hyperv.proxy_components" in result["msg"]
        assert handled_since(proxy_lab, host, before[host]) == ["collection:data_mover_start"]


def stage_proxies(lab, disks: dict[str, Path]) -> dict:
    """The component's packages and `disks` ({Windows path: local VHDX}) on both proxies; returns the manifest."""
    manifest = copy.deepcopy(MANIFEST["manifest"])
    mover = next(component for component in manifest["components"] if component["role"] == "data_mover")
    # Not the default manifest's datamover.pyz: the task must find the engine by the proxy's record.
    mover["files"] = [ENGINE if path == "datamover.pyz" else path for path in mover["files"]]
    for host in PROXIES:
        stage_component_sources(lab, host)
        engine = windows_file(lab, host, f"{mover['source']}\\{ENGINE}")
        engine.parent.mkdir(parents=True, exist_ok=True)
        engine.write_bytes(b"PK placeholder of the engine's zip application")
        for windows_path, local in disks.items():
            target = windows_file(lab, host, windows_path)
            target.parent.mkdir(parents=True)
            target.write_bytes(local.read_bytes())
    return manifest


def proxy_play(manifest: dict, tasks: list[dict]) -> dict:
    """The install task then `tasks` on both proxies; no variable of the offhost_proxy role is set."""
    install = {"name": "install", "backup.hyperv.proxy_components": {"manifest": manifest}}
    return {"hosts": "offhost_proxies", "gather_facts": False, "tasks": [install, *tasks]}


def assert_same_disk(original: Path, restored: Path, what: str) -> None:
    compared = subprocess.run(["qemu-img", "compare", "-q", str(original), str(restored)], timeout=60, check=False)
    assert compared.returncode == 0, f"{what}: the restored disk differs from the original"


def test_backup_verify_restore_over_psrp_and_winrm(proxy_lab, tmp_path):
    original = make_vhdx(tmp_path)
    manifest = stage_proxies(proxy_lab, {DISK: original})
    common = {"repository": REPOSITORY, "passphrase": "{{ vault_passphrase }}"}
    tasks = [
        data_mover_task("estimated", operation="backup", vm="web01", source=[DISK], **common),
        data_mover_task("stored", operation="backup", vm="web01", source=[DISK], encryption="aes-256-gcm", **common),
        data_mover_task("verified", operation="verify", **common),
        data_mover_task("restored", operation="restore", vm="web01", destination=DESTINATION, **common),
        data_mover_task("incremental", operation="backup", vm="web01", source=[DISK], changed_ranges=RANGES, **common),
        data_mover_task("refused", operation="list", repository=REPOSITORY, passphrase="not-the-passphrase"),
    ]
    tasks[0]["check_mode"] = True
    tasks[-1]["ignore_errors"] = True
    plays = [
        proxy_play(manifest, tasks),
        save_results_play(tmp_path, ("estimated", "stored", "verified", "restored", "incremental", "refused")),
    ]
    before = {host: len(proxy_lab.log(host)) for host in PROXIES}
    completed = run_playbook(proxy_lab, tmp_path, "backup", plays)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert PASSPHRASE not in completed.stdout + completed.stderr
    for host in PROXIES:
        results = saved(tmp_path, host)
        assert PASSPHRASE not in json.dumps(results)
        round_trips = handled_since(proxy_lab, host, before[host])
        # one job a task: started once, polled until done (and released); never run inside the shell
        assert round_trips.count("collection:data_mover_start") == 6, round_trips
        assert "collection:data_mover_run" not in round_trips, round_trips
        stored, estimated = results["stored"], results["estimated"]
        assert estimated["restore_point"] is None and estimated["stats"]["chunks_new"] == stored["stats"]["chunks_new"]
        assert stored["changed"] is True and stored["disks"][0]["source"] == DISK
        assert stored["stats"]["chunks_reused"] >= 1  # the repeated block
        assert results["verified"]["ok"] is True and results["verified"]["checked_chunks"] > 0
        restored = results["restored"]
        assert restored["restore_point"] == stored["restore_point"]
        assert restored["outputs"][0]["path"] == DESTINATION + "\\web01-os.vhdx"
        assert_same_disk(original, windows_file(proxy_lab, host, DESTINATION + "\\web01-os.vhdx"), host)
        assert results["incremental"]["incremental"]["web01-os.vhdx"]["mode"] == "changed_ranges"
        assert results["refused"]["msg"] == "data mover: wrong passphrase: it does not unlock the repository key"
        repository = windows_file(proxy_lab, host, REPOSITORY)
        assert not any(PASSPHRASE.encode() in p.read_bytes() for p in repository.rglob("*") if p.is_file())
    inventory = yaml.safe_load(proxy_lab.inventory.read_text())["all"]["children"]["windows"]["hosts"]
    transports = {host: inventory[host]["ansible_connection"] for host in PROXIES}
    assert transports == {"px1": "psrp", "px2": "winrm"}


def test_a_job_backs_up_and_restores_two_vms_in_one_task(proxy_lab, tmp_path):
    originals = {"web01": make_vhdx(tmp_path), "db01": make_vhdx(tmp_path, "db01-data", seed=11)}
    manifest = stage_proxies(proxy_lab, {DISK: originals["web01"], DB_DISK: originals["db01"]})
    common = {"repository": REPOSITORY, "passphrase": "{{ vault_passphrase }}"}
    backups = [{"vm": "web01", "sources": [DISK]}, {"vm": "db01", "sources": [DB_DISK]}]
    restores = [{"vm": vm, "destination": f"C:\\Restore\\{vm}"} for vm in originals]
    # The ranges' keys are Windows paths in the job file: the lab maps them like the sources.
    incremental = [{"vm": "db01", "sources": [DB_DISK], "changed_ranges": {DB_DISK: [[5 << 20, 65536]]}}]
    tasks = [
        data_mover_task("stored", operation="backup", jobs=backups, encryption="aes-256-gcm", **common),
        data_mover_task("restored", operation="restore", jobs=restores, **common),
        data_mover_task("incremental", operation="backup", jobs=incremental, **common),
    ]
    before = {host: len(proxy_lab.log(host)) for host in PROXIES}
    plays = [proxy_play(manifest, tasks), save_results_play(tmp_path, ("stored", "restored", "incremental"))]
    completed = run_playbook(proxy_lab, tmp_path, "job", plays)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert PASSPHRASE not in completed.stdout + completed.stderr
    for host in PROXIES:
        results = saved(tmp_path, host)
        # One engine run a task, whatever the number of VMs.
        assert handled_since(proxy_lab, host, before[host]).count("collection:data_mover_start") == len(tasks)
        stored, restored = results["stored"], results["restored"]
        assert stored["failed_vms"] == [] and [r["vm"] for r in stored["results"]] == ["web01", "db01"]
        assert stored["results"][1]["disks"][0]["source"] == DB_DISK  # in Windows form again
        assert restored["failed_vms"] == [] and not restored.get("failed")
        for backup, restore, (vm, original) in zip(stored["results"], restored["results"], originals.items()):
            output = restore["outputs"][0]["path"]
            assert restore["restore_point"] == backup["restore_point"]
            assert output == f"C:\\Restore\\{vm}\\{original.name}"
            assert_same_disk(original, windows_file(proxy_lab, host, output), f"{host} {vm}")
        assert results["incremental"]["results"][0]["incremental"]["db01-data.vhdx"]["mode"] == "changed_ranges"


def test_a_job_with_a_missing_source_fails_only_that_vm(proxy_lab, tmp_path):
    original = make_vhdx(tmp_path)
    manifest = stage_proxies(proxy_lab, {DISK: original})
    common = {"repository": REPOSITORY, "passphrase": "{{ vault_passphrase }}"}
    missing = "C:\\VMs\\ghost01\\ghost01-os.vhdx"
    jobs = [{"vm": "ghost01", "sources": [missing]}, {"vm": "web01", "sources": [DISK]}]
    tasks = [
        {**data_mover_task("stored", operation="backup", jobs=jobs, **common), "ignore_errors": True},
        data_mover_task("listed", operation="list", **common),
    ]
    plays = [proxy_play(manifest, tasks), save_results_play(tmp_path, ("stored", "listed"))]
    completed = run_playbook(proxy_lab, tmp_path, "job-missing", plays)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    for host in PROXIES:
        results = saved(tmp_path, host)
        stored = results["stored"]
        assert stored["failed"] is True and stored["failed_vms"] == ["ghost01"]
        assert stored["msg"] == "data mover: backup failed for VM ghost01"
        ghost, web = stored["results"]
        assert ghost["failed"] is True and missing in ghost["msg"] and str(tmp_path) not in ghost["msg"]
        assert web["failed"] is False and web["restore_point"]
        listed = results["listed"]["vms"]
        assert [point["id"] for point in listed["web01"]] == [web["restore_point"]]  # the other VM's is published
        assert "ghost01" not in listed


def test_a_start_whose_reply_is_dropped_is_sent_again_and_starts_one_job(proxy_lab, tmp_path):
    """docs/backup.md, "When the connection drops": the controller names the job, so a start sent again after a
    lost reply finds the job it already started (one job, one restore point), and the task collects its result."""
    original = make_vhdx(tmp_path)
    manifest = stage_proxies(proxy_lab, {DISK: original})
    common = {"repository": REPOSITORY, "passphrase": "{{ vault_passphrase }}"}
    install = proxy_play(manifest, [])
    run_playbook(proxy_lab, tmp_path, "install", [install])
    jobs_before = {host: stats_of(proxy_lab)[host]["data_mover_jobs"] for host in PROXIES}
    for host in PROXIES:  # the start's reply (its Receive) is lost once
        run_lab("fault", host, "--drop", "1", "--operation", "Receive", "--state-dir", str(proxy_lab.state_dir))
    task = data_mover_task("stored", operation="backup", vm="web01", source=[DISK], **common)
    play = {"hosts": "offhost_proxies", "gather_facts": False, "tasks": [task]}
    completed = run_playbook(proxy_lab, tmp_path, "dropped", [play, save_results_play(tmp_path, ("stored",))])
    assert completed.returncode == 0, completed.stdout + completed.stderr
    for host in PROXIES:
        stored = saved(tmp_path, host)["stored"]
        assert stored["restore_point"] and stored["changed"] is True, stored
        assert [r["script"] for r in stored["connection_retries"]] == ["data_mover_start"], stored["connection_retries"]
        assert stats_of(proxy_lab)[host]["data_mover_jobs"] - jobs_before[host] == 1


def stats_of(lab) -> dict:
    return json.loads(run_lab("stats", "--state-dir", str(lab.state_dir)).stdout)
