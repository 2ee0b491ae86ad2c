#!/usr/bin/env python3
"""`make demo`: the whole job of the collection on the lab, from preflight to a byte-identical restore.

Steps: make real VHDX disks for a few VMs with qemu-img (a shared OS base, unique data, zero and
unallocated regions); write a copy of the lab's demo estate (tests/lab/estates/demo.yml: cluster CL1
with hv1 and hv2, px1 a fit proxy, px2 a node of CL1, file server fs1) whose VMs use those disks (files01
on the SMB3 share \\\\fs1\\vms, the others on the CSV); `lab up` on ephemeral ports with the installer and
the vendor's VSS provider staged on every host; run the installed collection's `site.yml` through
`ansible-playbook` (preflight report, managed servers, proxies: px2 refused for R8, px1 deployed from the
proxy package `make proxy-package` built, staged and verified by the role; day 1: a full backup by volume
group, one transportable shadow copy set per group, a shadow copy share on fs1 for files01, px1's data
mover; verify); let the lab write 2 % of every disk (`lab churn`) and run `backup.yml` again (day 2:
recovery checkpoints, only the blocks Hyper-V RCT reports as changed); restore each VM with `restore.yml`
on px1; compare every restored disk with the disk as it is on day 2 (`qemu-img compare`); print a summary
of both days. The lab is always stopped (`lab down`), on failure and on Ctrl-C too.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_ESTATE = REPO_ROOT / "tests/lab/estates/demo.yml"
PACKAGES = REPO_ROOT / "tools/demo/lab_host_packages.py"
PROXY_PACKAGES = REPO_ROOT / "build/proxy-package"  # `make proxy-package`: <version>/package
MiB = 1 << 20
DISK_SIZE = 64 * MiB
OS_BASE_SIZE = 16 * MiB
PASSPHRASE = "demo passphrase, in production from Ansible Vault"
REPOSITORY = "C:\\Backup\\repository"
CSV = "C:\\ClusterStorage\\Volume1"
# VM -> (host, disk names); each VM's disks are in <folder>\<VM>, the CSV unless VM_FOLDERS says otherwise.
VMS = {
    "web01": ("hv1", ["web01.vhdx"]),
    "app01": ("hv1", ["app01.vhdx"]),
    "files01": ("hv1", ["files01.vhdx"]),
    "sql01": ("hv2", ["sql01.vhdx", "data.vhdx"]),
}
VM_FOLDERS = {"files01": "\\\\fs1\\vms"}  # an SMB3 share: backed up through a shadow copy share on fs1
# app01's disk is a guest disk with an NTFS volume (GPT, made with sgdisk, mkntfs and ntfscp by the file-level
# restore tests' builder), so the demo can list and extract a file from inside a restore point.
GUEST_DISK_VM = "app01"
GUEST_FILES = {"\\q3-report.txt": b"Q3 revenue by region\n" * 2000, "\\ledger.bin": random.Random(5).randbytes(3 * MiB)}
RESTORED_VM = ("web01", "web01-copy")  # restored as a new VM on hv2 at the end
SHOWN = re.compile(r"^(PLAY \[|fatal: |PLAY RECAP|\S+\s+: ok=)|\"msg\": \"(px\d backed up|px\d: )")


def say(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def os_base(seed: int) -> bytes:
    """Text-like, compressible content that every VM shares, like an installed OS."""
    rng = random.Random(seed)
    words = [bytes(rng.choices(range(97, 123), k=rng.randint(2, 9))) for _ in range(4096)]
    return b" ".join(rng.choices(words, k=OS_BASE_SIZE // 5))[:OS_BASE_SIZE]


def make_disk(vhdx: Path, base: bytes, seed: int) -> None:
    """OS base at 0, explicit zeros at 20 MiB, 12 MiB of unique data at 32 MiB, the rest never written."""
    raw, rng = vhdx.with_suffix(".raw"), random.Random(seed)
    with raw.open("wb") as disk:
        disk.truncate(DISK_SIZE)
        disk.write(base)
        disk.seek(20 * MiB)
        disk.write(bytes(4 * MiB))
        disk.seek(32 * MiB)
        disk.write(rng.randbytes(12 * MiB))
    command = ["qemu-img", "convert", "-q", "-f", "raw", "-O", "vhdx", "-o", "subformat=dynamic", str(raw), str(vhdx)]
    subprocess.run(command, check=True)
    raw.unlink()


def make_guest_disk(vhdx: Path) -> None:
    """A GPT disk with one NTFS volume holding GUEST_FILES, made by real tools (tests' guest_disks builder)."""
    sys.path.insert(0, str(REPO_ROOT / "tests/unit/plugins/module_utils/datamover"))
    from guest_disks import Volume, gpt_disk

    raw = vhdx.with_suffix(".raw")
    gpt_disk(raw, DISK_SIZE, [Volume("DATA", 40 * MiB, files=dict(GUEST_FILES))])
    command = ["qemu-img", "convert", "-q", "-f", "raw", "-O", "vhdx", "-o", "subformat=dynamic", str(raw), str(vhdx)]
    subprocess.run(command, check=True)
    raw.unlink()


def make_disks(workdir: Path) -> dict[str, list[Path]]:
    base, disks = os_base(seed=7), {}
    for index, (vm, (_host, names)) in enumerate(VMS.items()):
        disks[vm] = []
        for number, name in enumerate(names):
            path = workdir / "disks" / vm / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if vm == GUEST_DISK_VM:
                make_guest_disk(path)
            else:
                make_disk(path, base, seed=100 + 10 * index + number)
            disks[vm].append(path)
    return disks


def write_estate(workdir: Path, disks: dict[str, list[Path]]) -> Path:
    """demo.yml with its VMs replaced by the demo's, whose disks are links to the files just made."""
    estate = yaml.safe_load(DEMO_ESTATE.read_text())
    for host in estate["hosts"]:
        made = [
            {
                "name": vm,
                "disks": [{"path": f"{VM_FOLDERS.get(vm, CSV)}\\{vm}\\{p.name}", "file": str(p)} for p in disks[vm]],
            }
            for vm, (owner, _names) in VMS.items()
            if owner == host["name"]
        ]
        if made or host.get("vms"):
            host["vms"] = made
    path = workdir / "demo-estate.yml"
    header = "# Written by tools/demo.py from tests/lab/estates/demo.yml\n"
    path.write_text(header + yaml.safe_dump(estate, sort_keys=False))
    return path


def lab(*arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "tests")}
    return subprocess.run([sys.executable, "-m", "lab", *arguments], capture_output=True, text=True, env=environment)


def ansible_environment(collections: Path, workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(collections.resolve()),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_NOCOLOR": "true",
        "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-tmp"),
        "ANSIBLE_LOCALHOST_WARNING": "false",
    }


class Ansible:
    """ansible-playbook and ansible against the lab's inventory, with the installed collection."""

    def __init__(self, collections: Path, workdir: Path, inventory: Path) -> None:
        self.environment = ansible_environment(collections, workdir)
        self.playbooks = collections / "ansible_collections/backup/hyperv/playbooks"
        self.workdir, self.inventory = workdir, inventory
        self.secrets = workdir / "secrets.json"  # as a vault would supply it
        self.secrets.touch(mode=0o600)
        self.secrets.write_text(json.dumps({"backup_passphrase": PASSPHRASE, "backup_repository": REPOSITORY}))

    def playbook(self, name: str, log_name: str, extra: dict[str, Any], *options: str) -> tuple[int, str]:
        """Run playbooks/<name>.yml (with ansible-playbook ``options``); keep the full output in a log, print its
        outline; (rc, output)."""
        variables = self.workdir / f"{log_name}.vars.json"
        variables.write_text(json.dumps(extra))
        binary = str(Path(sys.executable).with_name("ansible-playbook"))
        command = [binary, "-i", str(self.inventory), str(self.playbooks / f"{name}.yml")]
        command += ["-e", f"@{self.secrets}", "-e", f"@{variables}", *options]
        done = subprocess.run(command, capture_output=True, text=True, env=self.environment)
        output = done.stdout + done.stderr
        (self.workdir / f"{log_name}.log").write_text(output)
        for line in output.splitlines():
            if SHOWN.search(line.strip()):
                print("   " + line.strip()[:220])
        return done.returncode, output

    def data_mover(self, host: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """`data_mover` with ``arguments`` on ``host`` against the repository (ad hoc, tree callback); its result."""
        tree = self.workdir / f"tree-{host}"
        module_args = json.dumps(
            {"repository": "{{ backup_repository }}", "passphrase": "{{ backup_passphrase }}", **arguments}
        )
        binary = str(Path(sys.executable).with_name("ansible"))
        command = [binary, host, "-i", str(self.inventory), "-m", "backup.hyperv.data_mover", "-a", module_args]
        environment = {**self.environment, "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_CALLBACK_TREE_DIR": str(tree)}
        environment["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.builtin.tree"
        subprocess.run([*command, "-e", f"@{self.secrets}"], capture_output=True, env=environment, check=False)
        return json.loads((tree / host).read_text())

    def repository_list(self) -> dict[str, Any]:
        """`data_mover operation=list` on px1: every VM's restore points with their stats."""
        return self.data_mover("px1", {"operation": "list"})


def print_preflight(report_dir: Path) -> dict[str, str]:
    """The first preflight's verdict per proxy, with every finding that did not pass and its remedy."""
    verdicts = {}
    for path in sorted(report_dir.glob("preflight-*.json")):
        for proxy, result in json.loads(path.read_text())["proxies"].items():
            verdicts[proxy] = result["summary"]["status"]
            print(f"   {proxy}: {verdicts[proxy].upper()}")
            for finding in (f for f in result["findings"] if f["status"] != "pass"):
                print(f"     {finding['id']} {finding['status']}: {finding['message']}")
                if finding.get("remedy"):
                    print(f"       remedy: {finding['remedy']}")
    return verdicts


def compare_restored(state_dir: Path, disks: dict[str, list[Path]]) -> dict[str, bool]:
    identical = {}
    for vm, sources in disks.items():
        restored = state_dir / "hosts/px1/fs/C/Restore" / vm
        results = [subprocess.run(["qemu-img", "compare", "-q", str(s), str(restored / s.name)]) for s in sources]
        identical[vm] = all(result.returncode == 0 for result in results)
    return identical


def verify_outcome(site_output: str) -> str:
    """What the site.yml's last play (data_mover operation=verify on px1) reported."""
    task = site_output.rsplit("TASK [Read back and check every stored chunk", 1)
    if len(task) < 2:
        return "not run"
    first = task[1].split("\n", 2)[1].strip()
    return "ok, every chunk read back and checked" if first.startswith("ok:") else f"FAILED ({first[:120]})"


def print_summary(verdicts: dict[str, str], deployed: dict[str, bool], listing: dict, days: dict[str, Any]) -> None:
    say("Summary")
    for proxy, verdict in verdicts.items():
        outcome = "deployed, took the backup jobs" if deployed.get(proxy) else "refused by the offhost_proxy role"
        print(f"   proxy {proxy}: preflight {verdict}; {outcome}")
    for day, snapshots in days["snapshots"].items():
        print(f"   day {day}: {snapshots} shadow copy set(s) for {len(VMS)} VMs")
    print(f"   day 2: the lab wrote {days['written'] / MiB:.1f} MiB into the VMs' disks between the runs")
    header = f"   {'VM':<8} {'disks':>5} {'logical MiB':>12} {'day-1 read':>10} {'stored':>7} {'day-2 read':>10}"
    print(header + f" {'stored':>7} {'day-2 disks':>16} {'restore':>10}")
    for vm, same in days["identical"].items():
        points = listing.get("vms", {}).get(vm) or [{}]
        first, last = points[0].get("stats", {}), points[-1].get("stats", {})
        modes = {how.get("mode") for how in (points[-1].get("incremental") or {}).values()}
        read_how = "RCT ranges" if modes == {"changed_ranges"} else "full" if modes == {"full"} else "mixed"
        print(
            f"   {vm:<8} {len(VMS[vm][1]):>5} {first.get('bytes_logical', 0) / MiB:>12.1f}"
            f" {first.get('bytes_read', 0) / MiB:>10.1f} {first.get('bytes_stored', 0) / MiB:>7.1f}"
            f" {last.get('bytes_read', 0) / MiB:>10.1f} {last.get('bytes_stored', 0) / MiB:>7.1f}"
            f" {read_how:>16} {'identical' if same else 'DIFFERS':>10}"
        )


def lab_json(state_dir: Path, *arguments: str) -> Any:
    done = lab(*arguments, "--state-dir", str(state_dir))
    if done.returncode != 0:
        raise RuntimeError(f"lab {arguments[0]}: {done.stdout}{done.stderr}")
    return json.loads(done.stdout)


def day_two(ansible: Ansible, state_dir: Path, disks: dict[str, list[Path]]) -> tuple[int, dict[str, Any]]:
    """The VMs change (the lab writes 2 % of every disk), then backup.yml again: the incremental with RCT."""
    snapshots = {1: sum(host["snapshot_sets"] for host in lab_json(state_dir, "stats", "--reset").values())}
    written = lab_json(state_dir, "churn", "--percent", "2", "--seed", "demo")
    current = {vm: list(paths) for vm, paths in disks.items()}
    for disk in written:  # the lab keeps the changed disk apart from the file it started from
        if "file" in disk:
            index = [p.name for p in disks[disk["vm"]]].index(disk["disk"].rsplit("\\", 1)[1])
            current[disk["vm"]][index] = Path(disk["file"])
    rc, _output = ansible.playbook("backup", "backup-day2", {"backup_vms": list(VMS)})
    snapshots[2] = sum(host["snapshot_sets"] for host in lab_json(state_dir, "stats").values())
    days = {"snapshots": snapshots, "written": sum(d.get("bytes", 0) for d in written), "current": current}
    return rc, days


def run_demo(args: argparse.Namespace, state_dir: Path, disks: dict[str, list[Path]]) -> int:
    ansible = Ansible(args.collections, args.workdir, state_dir / "inventory.yml")
    report_dir = args.workdir / "preflight"
    say("site.yml: preflight report -> managed servers -> proxies -> backup (day 1, full) -> verify (ansible-playbook)")
    extra = {"backup_vms": list(VMS), "backup_encryption": "aes-256-gcm", "preflight_report_dir": str(report_dir)}
    extra["offhost_proxy_package_src"] = str(args.proxy_package)
    rc, output = ansible.playbook("site", "site", extra)
    say(f"Preflight report before anything was installed ({report_dir})")
    verdicts = print_preflight(report_dir)
    deployed = {proxy: f"{proxy}: {len(VMS)} VM(s) stored" in output for proxy in verdicts}
    print(f"   repository verify: {verify_outcome(output)}")
    if rc not in (0, 2) or not any(deployed.values()):  # 2: a host failed, i.e. px2 refused as it should be
        print(f"site.yml failed (rc {rc}); see {args.workdir / 'site.log'}")
        return 1
    say("Day 2: the lab writes 2 % of every disk; backup.yml again (recovery checkpoints, RCT changed ranges)")
    rc, days = day_two(ansible, state_dir, disks)
    if rc != 0:
        print(f"backup.yml of day 2 failed (rc {rc}); see {args.workdir / 'backup-day2.log'}")
        return 1
    say("restore.yml: restore each VM's latest restore point on px1 (C:\\Restore\\<vm>)")
    for vm in VMS:
        restore = {"restore_vm": vm, "restore_destination": f"C:\\Restore\\{vm}", "restore_proxy": "px1"}
        if ansible.playbook("restore", f"restore-{vm}", restore)[0] != 0:
            print(f"restore of {vm} failed; see {args.workdir / f'restore-{vm}.log'}")
            return 1
    say("qemu-img compare: every restored disk against the disk as it is on day 2")
    days["identical"] = compare_restored(state_dir, days["current"])
    listing = ansible.repository_list()
    extras = {"new_vm": restore_new_vm(ansible), "file": restore_guest_file(ansible, state_dir, listing)}
    print_summary(verdicts, deployed, listing, days)
    print(f"   {RESTORED_VM[0]} restored as the new VM {RESTORED_VM[1]} on hv2: {extras['new_vm']}")
    print(f"   file-level restore from {GUEST_DISK_VM}'s day-1 restore point: {extras['file']}")
    return 0 if all(days["identical"].values()) and "FAILED" not in str(extras) else 1


def restore_new_vm(ansible: Ansible) -> str:
    """restore_vm.yml: RESTORED_VM[0]'s latest restore point as a new VM (new ID) on hv2, started."""
    source, name = RESTORED_VM
    say(f"restore_vm.yml: {source} as a new VM {name} on hv2 (Compare-VM first, Import-VM -Copy -GenerateNewId)")
    variables = {
        "restore_vm": source,
        "restore_host": "hv2",
        "restore_staging": f"\\\\fs1\\vms\\restore\\{name}",
        "restore_name": name,
        "restore_storage_path": f"{CSV}\\{name}",
        "restore_start": True,
        "restore_proxy": "px1",
    }
    rc, _output = ansible.playbook("restore_vm", "restore-vm", variables)
    return "registered and started" if rc == 0 else f"FAILED (rc {rc}, see {ansible.workdir / 'restore-vm.log'})"


def restore_guest_file(ansible: Ansible, state_dir: Path, listing: dict) -> str:
    """data_mover ls and restore_file on px1: one file out of the NTFS volume of a restore point's disk, read
    from the repository chunk by chunk, compared with what was put in."""
    say(f"File-level restore: list {GUEST_DISK_VM}'s day-1 restore point and extract one file (ls, restore_file)")
    point = listing["vms"][GUEST_DISK_VM][0]["id"]
    listed = ansible.data_mover("px1", {"operation": "ls", "vm": GUEST_DISK_VM, "restore_point": point, "path": "\\"})
    for entry in listed.get("entries") or []:
        print(f"   {entry['kind']:<9} {entry['size']:>10}  {entry['modified']}  {entry['path']}")
    wanted = "\\q3-report.txt"
    arguments = {"operation": "restore_file", "vm": GUEST_DISK_VM, "restore_point": point, "path": wanted}
    extracted = ansible.data_mover("px1", {**arguments, "destination": "C:\\Restore\\files"})
    local = state_dir / "hosts/px1/fs/C/Restore/files" / wanted.lstrip("\\")
    if extracted.get("failed") or not local.is_file():
        return f"FAILED ({extracted.get('msg', 'no file')})"
    same = local.read_bytes() == GUEST_FILES[wanted]
    return f"{wanted} extracted, {'identical to what was written into the guest' if same else 'FAILED: it differs'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections", type=Path, default=REPO_ROOT / "build/install")
    parser.add_argument("--workdir", type=Path, default=REPO_ROOT / "build/demo")
    parser.add_argument("--package-version", default="0.1.0", help="the proxy package to stage (make proxy-package)")
    args = parser.parse_args(argv)
    args.proxy_package = (PROXY_PACKAGES / args.package_version / "package").resolve()
    if not (args.proxy_package / "SHA256SUMS").is_file():
        print(f"no proxy package in {args.proxy_package}: run make proxy-package")
        return 1
    args.workdir = args.workdir.resolve()
    started = time.monotonic()
    state_dir = args.workdir / "lab"
    if state_dir.exists():
        lab("down", "--state-dir", str(state_dir))  # a lab left by an interrupted run
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    for number in (signal.SIGINT, signal.SIGTERM):  # both unwind as KeyboardInterrupt, so the lab stops
        signal.signal(number, signal.default_int_handler)

    say(f"Making {len(VMS)} VMs with real VHDX disks (qemu-img) in {args.workdir / 'disks'}")
    disks = make_disks(args.workdir)
    estate = write_estate(args.workdir, disks)
    say(f"lab up {estate.name} (hv1, hv2 in cluster CL1; px1 fit; px2 a node of CL1; fs1), ephemeral ports")
    up = lab("up", str(estate), "--state-dir", str(state_dir), "--port", "0", "--handlers", str(PACKAGES))
    if up.returncode != 0:
        print(up.stdout + up.stderr)
        return 1
    try:
        for host, entry in json.loads(up.stdout)["hosts"].items():
            print(f"   {host}: http://{entry['address']}:{entry['port']}/wsman ({entry['connection']})")
        status = run_demo(args, state_dir, disks)
    except KeyboardInterrupt:
        print("\n==> interrupted", flush=True)
        status = 130
    finally:
        down = lab("down", "--state-dir", str(state_dir))
        say(f"lab down: {down.stdout.strip() or down.stderr.strip()}")
    print(f"{time.monotonic() - started:.0f} s in all; logs in {args.workdir}")
    return status


if __name__ == "__main__":
    sys.exit(main())
