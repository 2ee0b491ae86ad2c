"""`playbooks/site.yml` end to end on lab estates, through `ansible-playbook` and through `ansible-runner`.

One lab per estate (tests/lab/estates/demo.yml: px1 fit, px2 a node of cluster CL1; healthy.yml: one fit
proxy), with the installer and the vendor's VSS provider staged on every host (tools/demo/lab_host_packages.py),
the proxy package `make proxy-package` built staged by the offhost_proxy role (PROXY_PACKAGE), and real data
written into the VMs' VHDX disks. The first run refuses px2 with R8 named and deploys px1 (components
running), backs the CSV VMs up through shadow copies and the data mover on px1, and verifies the
repository; files01 (demo.yml, on \\\\fs1\\vms) goes through a shadow copy share on fs1 that px1 reads directly;
`playbooks/restore.yml` restores each VM on px1 and `qemu-img compare` finds every restored
disk equal to its source. A second run (no VMs selected, so no new restore point) reports changed=0 for
every host; `--check` on the converged estate leaves every host's files and state as they were; and
`ansible_runner.run` of the same playbook gives the same per-host stats as `ansible-playbook`.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PureWindowsPath
from typing import Any

import ansible_runner
import pytest
import yaml
from lab_testkit import ESTATES, TESTS_DIR, RunningLab, accepts, ansible_environment, estate_lab, run_lab

REPO_ROOT = TESTS_DIR.parent
SITE = REPO_ROOT / "playbooks" / "site.yml"
RESTORE = REPO_ROOT / "playbooks" / "restore.yml"
PACKAGES = REPO_ROOT / "tools" / "demo" / "lab_host_packages.py"
# What `make proxy-package` builds (the Makefile's targets that run these tests build it first); every playbook
# run here stages it with the offhost_proxy role.
PROXY_PACKAGE = (
    REPO_ROOT
    / "build"
    / "proxy-package"
    / yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())["version"]
    / "package"
)
REPOSITORY = "C:\\Backup\\repo"
PASSPHRASE = "Lab-Vault-Passphrase-site"
RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$", re.MULTILINE)
RECAP_KEYS = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
RUNNER_KEYS = {"ok": "ok", "changed": "changed", "dark": "unreachable", "failures": "failed", "skipped": "skipped"}
RUNNER_KEYS.update(rescued="rescued", ignored="ignored")
QEMU_IMG_TIMEOUT = 120
# The CSV VMs of each estate, and on demo.yml one VM on an SMB3 share (files01 on \\fs1\vms).
CASES = {
    "demo.yml": {"vms": ["web01", "sql01", "files01"], "refused": {"px2": "R8"}, "deployed": ["px1"]},
    "healthy.yml": {"vms": ["vm1", "vm2"], "refused": {}, "deployed": ["px1"]},
}


@contextmanager
def staged_lab(estate: Path, state_dir: Path) -> Iterator[RunningLab]:
    """`lab up` of the estate with the packages staged; `lab down` after, checking no port is left open."""
    up = run_lab("up", str(estate), "--state-dir", str(state_dir), "--port", "0", "--handlers", str(PACKAGES))
    status = json.loads(up.stdout)
    try:
        yield RunningLab(state_dir, status)
    finally:
        run_lab("down", "--state-dir", str(state_dir))
        assert not any(accepts(entry["address"], entry["port"]) for entry in status["hosts"].values())


@contextmanager
def proxy_lab(estate: Path, work: Path) -> Iterator[RunningLab]:
    """`staged_lab` with the estate's proxies deployed by playbooks/offhost_proxy.yml (what a backup needs)."""
    with staged_lab(estate, work / "lab") as lab:
        rc, output = playbook(lab, work, REPO_ROOT / "playbooks" / "offhost_proxy.yml", {})
        assert rc == 0, output[-3000:]
        yield lab


def estate_disks(estate: Path, vms: list[str]) -> dict[str, list[tuple[str, str]]]:
    """{VM: [(host, drive path of each disk)]} for the selected VMs, from the estate file; a disk on
    `\\\\server\\share\\...` is named by the file server and the share's folder."""
    hosts = yaml.safe_load(estate.read_text())["hosts"]
    shares = {
        (host["name"].lower(), share["name"].lower()): (host["name"], share.get("path", f"D:\\Shares\\{share['name']}"))
        for host in hosts
        for share in host.get("shares", [])
    }

    def located(host: str, path: str) -> tuple[str, str]:
        if not path.startswith("\\\\"):
            return host, path
        server, share, rest = path[2:].split("\\", 2)
        owner, folder = shares[(server.lower(), share.lower())]
        return owner, f"{folder}\\{rest}"

    disks: dict[str, list[tuple[str, str]]] = {}
    for host in hosts:
        for vm in host.get("vms", []):
            if vm["name"] in vms:
                disks[vm["name"]] = [located(host["name"], disk["path"]) for disk in vm["disks"]]
    return disks


def windows_file(lab: RunningLab, host: str, windows_path: str) -> Path:
    return lab.host_file(host, windows_path[0], *windows_path[3:].split("\\"))


def fill_disk(vhdx: Path, seed: int) -> None:
    """Rewrite the lab's empty VHDX with scattered random MiB blocks and a repeated one (same virtual size)."""
    command = ["qemu-img", "info", "--output=json", str(vhdx)]
    info = json.loads(subprocess.check_output(command, text=True, timeout=QEMU_IMG_TIMEOUT))
    raw, generator = vhdx.with_suffix(".raw"), random.Random(seed)
    with raw.open("wb") as image:
        image.truncate(info["virtual-size"])
        for offset in range(0, info["virtual-size"] - (1 << 20), 3 << 20):
            image.seek(offset)
            image.write(generator.randbytes(1 << 20) if offset % (6 << 20) else b"repeated block" * 74898)
    vhdx.unlink()
    command = ["qemu-img", "convert", "-q", "-f", "raw", "-O", "vhdx", str(raw), str(vhdx)]
    subprocess.run(command, check=True, timeout=QEMU_IMG_TIMEOUT)
    raw.unlink()


def recap(stdout: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP of an ansible-playbook run: {host: {ok, changed, unreachable, failed, ...}}."""
    tail = stdout[stdout.rindex("PLAY RECAP") :]
    return {
        match["host"]: {key: int(value) for key, value in (pair.split("=") for pair in match["counts"].split())}
        for match in RECAP.finditer(tail)
    }


def playbook(lab: RunningLab, work: Path, path: Path, extra: dict[str, Any], *options: str) -> tuple[int, str]:
    """`ansible-playbook` of a collection playbook against the lab; (rc, stdout)."""
    assert (PROXY_PACKAGE / "SHA256SUMS").is_file(), f"no proxy package in {PROXY_PACKAGE}: run make proxy-package"
    variables = work / "extra.json"
    variables.write_text(json.dumps({"offhost_proxy_package_src": str(PROXY_PACKAGE), **extra}))
    command = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(lab.inventory), str(path)]
    completed = subprocess.run(
        [*command, "-e", f"@{variables}", *options],
        capture_output=True,
        text=True,
        env=ansible_environment(work),
        timeout=300,
        check=False,
    )
    return completed.returncode, completed.stdout + completed.stderr


def host_snapshot(lab: RunningLab) -> dict[str, str]:
    """Every file of every emulated host and of the shared storage, by path, with its SHA-256."""
    roots = [lab.state_dir / "hosts", lab.state_dir / "shared"]
    return {
        str(path.relative_to(lab.state_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for root in roots
        for path in root.rglob("*")
        if path.is_file()
    }


def runner_stats(lab: RunningLab, work: Path, extra: dict[str, Any]) -> tuple[str, dict[str, dict[str, int]]]:
    """The same playbook through ansible-runner's Python API (what AWX uses); (status, per-host stats)."""
    environment = ansible_environment(work)
    envvars = {key: environment[key] for key in ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_LOCAL_TEMP")}
    envvars["PATH"] = f"{Path(sys.executable).parent}:{environment['PATH']}"  # runner starts `ansible-playbook`
    (work / "runner").mkdir()
    run = ansible_runner.run(
        private_data_dir=str(work / "runner"),
        playbook=str(SITE),
        inventory=str(lab.inventory),
        extravars={"offhost_proxy_package_src": str(PROXY_PACKAGE), **extra},  # the variables `playbook` passes
        envvars=envvars,
        quiet=True,
    )
    hosts = {host for counts in run.stats.values() for host in counts}
    stats = {host: {key: 0 for key in RECAP_KEYS} for host in hosts}
    for runner_key, key in RUNNER_KEYS.items():
        for host, count in run.stats.get(runner_key, {}).items():
            stats[host][key] = count
    return run.status, stats


@contextmanager
def site_runs(estate_name: str, work: Path) -> Iterator[dict[str, Any]]:
    """site.yml, restore.yml per VM, a second run, a check run and an ansible-runner run on one lab."""
    estate, case = ESTATES / estate_name, CASES[estate_name]
    with staged_lab(estate, work / "lab") as lab:
        disks = estate_disks(estate, case["vms"])
        for seed, (host, path) in enumerate(disk for vm in case["vms"] for disk in disks[vm]):
            fill_disk(windows_file(lab, host, path), seed)
        common = {"backup_repository": REPOSITORY, "backup_passphrase": PASSPHRASE, "backup_encryption": "aes-256-gcm"}
        record: dict[str, Any] = {"case": case, "lab": lab, "disks": disks}
        record["first"] = playbook(lab, work, SITE, {**common, "backup_vms": case["vms"]})
        record["restores"] = {
            vm: playbook(lab, work, RESTORE, {**common, "restore_vm": vm, "restore_destination": f"C:\\Restore\\{vm}"})
            for vm in case["vms"]
        }
        idle = {**common, "backup_vms": []}  # deployment and verify again, no new restore point
        record["second"] = playbook(lab, work, SITE, idle)
        before = host_snapshot(lab)
        record["check"] = playbook(lab, work, SITE, {**common, "backup_vms": case["vms"]}, "--check")
        after = host_snapshot(lab)
        changed = before.keys() | after.keys()
        record["check_writes"] = sorted(name for name in changed if before.get(name) != after.get(name))
        record["runner"] = runner_stats(lab, work, idle)
        yield record


def check_first_run_refuses_the_misconfigured_proxy_and_deploys_the_fit_one(site_run: dict[str, Any]) -> None:
    rc, output = site_run["first"]
    stats, case = recap(output), site_run["case"]
    assert rc == (2 if case["refused"] else 0), output[-3000:]
    for proxy, requirement in case["refused"].items():
        assert stats[proxy]["failed"] == 1
        refusal = re.search(rf"preflight of {proxy} blocks the proxy role: (.*)", output)
        assert refusal and f"{requirement} fail:" in refusal[1] and "Remedy:" in refusal[1], output[-3000:]
    for proxy in case["deployed"]:
        assert stats[proxy]["failed"] == 0 and stats[proxy]["changed"] > 0
    assert "[WARNING]: Could not match supplied host pattern" not in output


def check_every_selected_vm_is_backed_up_and_restores_identical(site_run: dict[str, Any]) -> None:
    lab = site_run["lab"]
    backed_up = re.search(r'"msg": "px1: .* Stored: (.*)"', site_run["first"][1])
    assert backed_up, site_run["first"][1][-3000:]
    assert sorted(re.findall(r"\w+/(\w+) -> \S+", backed_up[1])) == sorted(site_run["case"]["vms"])
    verified = site_run["first"][1].split("TASK [Read back and check every stored chunk", 1)[1].split("\n")[1]
    assert verified.startswith("ok: [px1]"), verified  # site.yml's repository verify passed
    for vm, (rc, output) in site_run["restores"].items():
        assert rc == 0, output[-3000:]
        for host, path in site_run["disks"][vm]:
            restored = windows_file(lab, "px1", f"C:\\Restore\\{vm}\\{PureWindowsPath(path).name}")
            compared = subprocess.run(
                ["qemu-img", "compare", "-q", str(windows_file(lab, host, path)), str(restored)], check=False
            )
            assert compared.returncode == 0, f"{vm}: {restored.name} differs from {path}"


def check_second_run_changes_nothing(site_run: dict[str, Any]) -> None:
    rc, output = site_run["second"]
    stats = recap(output)
    assert rc == (2 if site_run["case"]["refused"] else 0), output[-3000:]
    assert {host: counts["changed"] for host, counts in stats.items()} == dict.fromkeys(stats, 0), output[-3000:]
    assert {host for host, counts in stats.items() if counts["failed"]} == set(site_run["case"]["refused"])


def check_check_mode_on_the_converged_estate_writes_nothing(site_run: dict[str, Any]) -> None:
    rc, output = site_run["check"]
    assert rc == (2 if site_run["case"]["refused"] else 0), output[-3000:]
    assert site_run["check_writes"] == [], "check mode wrote these host files"


def check_ansible_runner_gives_the_same_stats(site_run: dict[str, Any]) -> None:
    status, stats = site_run["runner"]
    assert status == ("failed" if site_run["case"]["refused"] else "successful")
    assert stats == recap(site_run["second"][1])


# One test per estate (its lab is expensive): pytest-xdist runs the two side by side.
@pytest.mark.parametrize("estate_name", sorted(CASES))
def test_site_end_to_end(estate_name: str, tmp_path: Path) -> None:
    with site_runs(estate_name, tmp_path) as site_run:
        check_first_run_refuses_the_misconfigured_proxy_and_deploys_the_fit_one(site_run)
        check_every_selected_vm_is_backed_up_and_restores_identical(site_run)
        check_second_run_changes_nothing(site_run)
        check_check_mode_on_the_converged_estate_writes_nothing(site_run)
        check_ansible_runner_gives_the_same_stats(site_run)


def test_managed_server_stages_the_package_itself_on_a_fresh_estate(tmp_path: Path) -> None:
    # No package staged beforehand (no provisioner): the role stages it from offhost_proxy_package_src, which
    # site.yml's managed_server play passes on, instead of failing on every host for the installer's missing files.
    with estate_lab(ESTATES / "healthy.yml", tmp_path / "lab") as lab:
        rc, output = playbook(lab, tmp_path, REPO_ROOT / "playbooks" / "managed_server.yml", {})
        assert rc == 0, output[-3000:]
        stats = recap(output)
        assert stats["hv1"]["changed"] >= 2 and stats["hv1"]["failed"] == 0, output[-3000:]  # staged, installed
        installer = windows_file(lab, "hv1", "C:\\Program Files\\backup.hyperv\\Installer\\installer.pyz")
        assert installer.is_file()
