"""Benchmark of the backup job at estate scale on the lab (``make bench-job``): one table, per configuration.

For each configuration (VMs, proxies, disk size): make the VMs' VHDX disks with qemu-img (each with its own
random data, so nothing deduplicates across VMs), write an estate (cluster CL1 = hv1 + hv2 with two CSVs, the
VMs spread over both hosts and both CSVs, proxies px1 and px2 outside the cluster reading both LUNs), ``lab up``
with the collection's packages staged, deploy the proxies (``offhost_proxy.yml``), then run ``backup.yml`` for
day 1 (full), let the lab write about ``--churn`` percent of each disk in random tracking blocks (``lab churn``),
and run it for day 2 (incremental with RCT), then once more for one VM (the run's fixed part, which a second
proxy does not shrink: it bounds the two-proxy speed-up the targets report). With one proxy the run is limited to
px1 (``--limit``).

The churn model: ``--churn`` percent of each disk's tracking blocks (the lab's ``rct_block``, 256 KiB), whole and
aligned, at random places (``lab churn --blocks``); ``--churn-pieces`` writes that share of the disk as 64 KiB pieces
instead, which touches more tracking blocks and 1 MiB chunks than it writes. A proxy is a machine of its own: the
lab gives px1's data mover runs core 0 and px2's core 1 (the estate's ``cpus``), so one proxy has one core for its
data mover and two proxies two; the lab's WS-Management server and ``ansible-playbook`` still share both cores
(``--no-pin``: every data mover run on every core). Per run: the shadow copy sets the lab created, the HTTP
requests and commands (round trips) it answered (``lab stats``), the bytes the data mover read and stored (the new
restore points' stats), the bytes the lab wrote between the days (``lab churn``), the wall time of
``ansible-playbook``, the cores the machine kept busy meanwhile (``cores``: busy CPU seconds per second) or left
waiting for the disk (``io``: iowait seconds per second), and who
spent that CPU time: ``ctl s`` the controller (``ansible-playbook`` and its workers), ``lab s`` the lab's server (the
emulated hosts, one process), ``mover s`` the data mover runs (the lab's children). One table, then the issue's
targets checked against it; JSON in the work dir.

    .venv/bin/python bench/job.py [--vms 40,256] [--proxies 1,2] [--disk 8M] [--big-vms 4 --big-disk 256M]
        [--big-proxies 1,2] [--churn 2] [--churn-pieces] [--no-pin] [--block-size 1M] [--work build/bench-job]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tools"))
sys.path.insert(0, str(REPO_ROOT / "bench"))
sys.path.insert(0, str(REPO_ROOT / "tests"))
import machine  # noqa: E402  (the machine's busy CPU time)
from demo import PACKAGES, PROXY_PACKAGES, Ansible, lab  # noqa: E402  (the demo's lab and ansible-playbook helpers)
from job_estate import MiB, estate  # noqa: E402  (the benchmark's estate and VM disks)
from lab.control import PID_FILE as LAB_PID_FILE  # noqa: E402  (where `lab up` keeps its server's pid)


@dataclass
class Run:
    """One backup.yml run's figures."""

    day: int
    wall_s: float
    snapshots: int
    requests: int
    commands: int
    bytes_read: int
    bytes_stored: int
    vms_stored: int
    disks_incremental: int
    bytes_written_before: int = 0
    busy_cores: float = 0.0  # the machine's busy CPU seconds during the run per second of wall time
    iowait_cores: float = 0.0  # the machine's cores idle waiting for the disk, per second of wall time
    controller_cpu_s: float = 0.0  # ansible-playbook and its workers
    lab_cpu_s: float = 0.0  # the lab's server: every emulated host's answers
    mover_cpu_s: float = 0.0  # the data mover runs the lab started (children of its server)
    mover_starts: int = 0  # data mover processes started: jobs of their own and job servers


@dataclass
class Config:
    vms: int
    proxies: int
    disk: int
    block: str = "1M"  # the data mover's chunk size (backup_block_size)
    idle: str | None = None  # backup_data_mover_idle (None: the playbook's default, one job server per proxy)
    runs: list[Run] = field(default_factory=list)
    fixed_s: float = 0.0  # wall time of a run of one VM after day 2: what a run costs whatever its groups


def size_of(text: str) -> int:
    units = {"K": 1 << 10, "M": MiB, "G": 1 << 30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def lab_json(*arguments: str) -> Any:
    done = lab(*arguments)
    if done.returncode != 0:
        raise RuntimeError(f"lab {' '.join(arguments)}: {done.stdout}{done.stderr}")
    return json.loads(done.stdout)


def newest_points(ansible: Ansible, proxy: str, since: str) -> list[dict[str, Any]]:
    """The restore points the proxy's repository got after ``since`` (an ISO time)."""
    listing = ansible.data_mover(proxy, {"operation": "list"})
    points = [point for points in (listing.get("vms") or {}).values() for point in points]
    return [point for point in points if point.get("time", "") > since]


def run_vars(config: Config) -> dict[str, Any]:
    """The variables every run of the configuration passes to backup.yml."""
    extra: dict[str, Any] = {"backup_block_size": config.block}
    if config.idle is not None:
        extra["backup_data_mover_idle"] = config.idle
    return extra


def limit(config: Config) -> list[str]:
    return ["--limit", "px1"] if config.proxies == 1 else []


def fixed_part(ansible: Ansible, config: Config) -> float:
    """Wall seconds of a backup.yml run of one VM (vm000, nothing written since day 2): the run's start and end,
    probes, preflight, plan, each proxy's repository read and report, which a second proxy does not shrink, plus
    one small group. It bounds what a second proxy can gain: one proxy's day 1 over (this + the rest of it / 2)."""
    began = time.monotonic()
    rc, output = ansible.playbook(
        "backup",
        f"backup-{config.vms}-{config.proxies}-fixed",
        {**run_vars(config), "backup_vms": ["vm000"]},
        *limit(config),
    )
    if rc != 0:
        raise RuntimeError(f"backup.yml of one VM failed (rc {rc}): {output[-2000:]}")
    return round(time.monotonic() - began, 1)


def backup(ansible: Ansible, state: Path, config: Config, day: int, written: int) -> Run:
    lab_json("stats", "--reset", "--state-dir", str(state))
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    lab_pid = int((state / LAB_PID_FILE).read_text())
    lab_cpu, controller_cpu = machine.process_cpu_seconds(lab_pid), machine.children_cpu_seconds()
    began, busy, iowait = time.monotonic(), machine.busy_cpu_seconds(), machine.iowait_seconds()
    rc, output = ansible.playbook(
        "backup", f"backup-{config.vms}-{config.proxies}-day{day}", run_vars(config), *limit(config)
    )
    wall, busy = time.monotonic() - began, machine.busy_cpu_seconds() - busy
    iowait = machine.iowait_seconds() - iowait
    controller_cpu = machine.children_cpu_seconds() - controller_cpu
    lab_cpu = tuple(after - before for after, before in zip(machine.process_cpu_seconds(lab_pid), lab_cpu))
    if rc != 0:
        raise RuntimeError(f"backup.yml day {day} failed (rc {rc}): {output[-2000:]}")
    stats = lab_json("stats", "--state-dir", str(state))
    points = [p for proxy in ("px1", "px2")[: config.proxies] for p in newest_points(ansible, proxy, started_at)]
    hosts = stats.values()
    return Run(
        day=day,
        wall_s=round(wall, 1),
        snapshots=sum(host["snapshot_sets"] for host in hosts),
        requests=sum(host["http_requests"] for host in hosts),
        commands=sum(host["commands"] for host in hosts),
        bytes_read=sum(p["stats"]["bytes_read"] for p in points),
        bytes_stored=sum(p["stats"]["bytes_stored"] for p in points),
        vms_stored=len(points),
        disks_incremental=sum(
            1 for p in points for how in (p.get("incremental") or {}).values() if how.get("mode") == "changed_ranges"
        ),
        bytes_written_before=written,
        busy_cores=round(busy / wall, 2),
        iowait_cores=round(iowait / wall, 2),
        controller_cpu_s=round(controller_cpu, 1),
        lab_cpu_s=round(lab_cpu[0], 1),
        mover_cpu_s=round(lab_cpu[1], 1),
        mover_starts=sum(
            host["data_mover_jobs"] - host["data_mover_server_jobs"] + host["data_mover_servers"] for host in hosts
        ),
    )


# Bytes on disk a configuration needs per byte of virtual disk size: the VHDX (half its size written), the raw image
# qemu-img converts from while it is built, the repository (the random half stores as it is) and day 2's writes.
DISK_BYTES_PER_VIRTUAL_BYTE = 1.5
DISK_MARGIN = 2 << 30


def refuse_when_the_disk_is_too_small(work: Path, config: Config) -> None:
    """Stop before making anything when the configuration's disks and repository cannot fit (a full disk stops
    every other process on the machine too)."""
    needed = int(config.vms * config.disk * DISK_BYTES_PER_VIRTUAL_BYTE) + DISK_MARGIN
    free = shutil.disk_usage(work).free
    if free < needed:
        raise SystemExit(
            f"bench-job: {config.vms} VMs of {config.disk // MiB} MiB need about {needed / 2**30:.1f} GiB free under "
            f"{work}, {free / 2**30:.1f} GiB are: use a smaller --big-disk or fewer --big-vms, or free disk space"
        )


def run_config(args: argparse.Namespace, config: Config) -> Config:
    """One configuration on a lab of its own; its disks, lab and repository are deleted when it ends, however it
    ends, so that the next configuration has the disk to itself."""
    work = args.work / f"{config.vms}vm-{config.proxies}px-{config.disk // MiB}M"
    state = work / "lab"
    if state.exists():
        lab("down", "--state-dir", str(state))
    shutil.rmtree(work, ignore_errors=True)
    args.work.mkdir(parents=True, exist_ok=True)
    refuse_when_the_disk_is_too_small(args.work, config)
    work.mkdir(parents=True)
    path = estate(work, config.vms, config.disk, not args.no_pin)
    lab_json("up", str(path), "--state-dir", str(state), "--port", "0", "--handlers", str(PACKAGES))
    try:
        ansible = Ansible(args.collections, work, state / "inventory.yml")
        package = {"offhost_proxy_package_src": str(PROXY_PACKAGES / args.package_version / "package")}
        rc, output = ansible.playbook("offhost_proxy", "offhost_proxy", package)
        if rc != 0:
            raise RuntimeError(f"offhost_proxy.yml failed: {output[-2000:]}")
        config.runs.append(backup(ansible, state, config, 1, 0))
        blocks = [] if args.churn_pieces else ["--blocks"]
        churn = lab_json("churn", "--percent", str(args.churn), *blocks, "--seed", "1", "--state-dir", str(state))
        written = sum(int(disk.get("bytes", 0)) for disk in churn)
        config.runs.append(backup(ansible, state, config, 2, written))
        config.fixed_s = fixed_part(ansible, config)
    finally:
        lab("down", "--state-dir", str(state))
        shutil.rmtree(work, ignore_errors=True)
    return config


def planning_seconds(collections: Path, vms: int = 1000, hosts: int = 8, proxies: int = 4) -> float:
    """Wall time of the backup plan (plugins/filter/backup_plan.py, what backup.yml's plan play calls once)
    for ``vms`` VMs on ``hosts`` hosts and 4 CSVs, ``proxies`` proxies serving all hosts: best of 3. The plan play's
    other tasks loop over source hosts, not VMs."""
    sys.path.insert(0, str(collections.resolve()))
    from ansible_collections.backup.hyperv.plugins.filter.backup_plan import backup_plan

    estate = [
        {
            "name": f"vm{i}",
            "host": f"hv{i % hosts}",
            "disks": [{"path": f"C:\\ClusterStorage\\Volume{i % 4}\\vm{i}\\d.vhdx"}],
        }
        for i in range(vms)
    ]
    pool = [{"name": f"px{p}", "slots": 2, "serves": [f"hv{h}" for h in range(hosts)]} for p in range(proxies)]
    timings = []
    for _attempt in range(3):
        began = time.perf_counter()
        backup_plan(estate, pool)
        timings.append(time.perf_counter() - began)
    return min(timings)


def table(configs: list[Config]) -> list[str]:
    header = (
        f"{'VMs':>4} {'proxies':>7} {'disk':>6} {'day':>3} {'wall s':>7} {'s/VM':>6} {'snapshots':>9} "
        f"{'HTTP/VM':>7} {'cmds':>5} {'written MiB':>11} {'read MiB':>9} {'stored MiB':>10} {'RCT disks':>9}"
        f" {'block':>5} {'cores':>5} {'io':>4} {'ctl s':>5} {'lab s':>5} {'mover s':>7} {'starts':>6}"
    )
    lines = [header]
    for config in configs:
        for run in config.runs:
            lines.append(
                f"{config.vms:>4} {config.proxies:>7} {config.disk // MiB:>5}M {run.day:>3} {run.wall_s:>7.1f}"
                f" {run.wall_s / config.vms:>6.2f} {run.snapshots:>9} {run.requests / config.vms:>7.1f}"
                f" {run.commands:>5} {run.bytes_written_before / MiB:>11.1f} {run.bytes_read / MiB:>9.1f}"
                f" {run.bytes_stored / MiB:>10.1f} {run.disks_incremental:>9} {config.block:>5}"
                f" {run.busy_cores:>5.2f} {run.iowait_cores:>4.2f} {run.controller_cpu_s:>5.1f}"
                f" {run.lab_cpu_s:>5.1f} {run.mover_cpu_s:>7.1f} {run.mover_starts:>6}"
            )
    return lines


def day(config: Config, number: int) -> Run:
    return next(run for run in config.runs if run.day == number)


ESTATE_VMS = 40  # the estate: at least 40 VMs on 2 CSVs and 2 proxies


def fixed_part_bound(one_wall: float, one_fixed: float, two_fixed: float) -> float:
    """The most a second proxy can speed a run up when everything but the run's fixed part halves exactly: one
    proxy's wall time over the two-proxy fixed part plus half of the rest."""
    return one_wall / (two_fixed + max(one_wall - one_fixed, 0.0) / 2)


def targets(configs: list[Config], groups: dict[int, int]) -> list[str]:
    """The issue's targets, each with the figures it was checked on (PASS/MISS, never silently dropped)."""
    checks = []
    for config in configs:
        two = day(config, 2)
        checks.append(
            (
                f"snapshots <= volume groups ({config.vms} VMs, {config.proxies} px)",
                two.snapshots <= groups[config.vms],
                f"{two.snapshots} <= {groups[config.vms]}",
            )
        )
        if config.vms < ESTATE_VMS:  # a few big-disk VMs measure bytes; requests amortise over an estate
            continue
        checks.append(
            (
                f"HTTP requests per VM <= 5 amortised ({config.vms} VMs, {config.proxies} px, day 2)",
                two.requests / config.vms <= 5,
                f"{two.requests / config.vms:.1f}",
            )
        )
    by_size = {(c.vms, c.disk, c.proxies): c for c in configs}
    for vms, disk in sorted({(c.vms, c.disk) for c in configs}):
        one, both = by_size.get((vms, disk, 1)), by_size.get((vms, disk, 2))
        if one and both:
            ratio = day(one, 1).wall_s / day(both, 1).wall_s
            what = f"{vms} VMs, {disk // MiB} MiB disks, day 1"
            bound = fixed_part_bound(day(one, 1).wall_s, one.fixed_s, both.fixed_s)
            figures = f"{ratio:.2f}x (at most {bound:.2f}x with runs of one VM taking {one.fixed_s} / {both.fixed_s} s)"
            checks.append((f"2 proxies >= 1.7x faster than 1 ({what})", ratio >= 1.7, figures))
    return [f"{'PASS' if ok else 'MISS'}  {name}: {figures}" for name, ok, figures in checks]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", default="40,256")
    parser.add_argument("--proxies", default="1,2")
    parser.add_argument("--disk", default="8M")
    parser.add_argument("--big-vms", type=int, default=4)
    parser.add_argument("--big-disk", default="256M")
    parser.add_argument("--big-proxies", default="1,2")
    parser.add_argument("--churn", type=float, default=2.0, help="percent of each disk's tracking blocks")
    parser.add_argument("--churn-pieces", action="store_true", help="churn as 64 KiB pieces, not whole blocks")
    parser.add_argument("--no-pin", action="store_true", help="data mover runs on every core, not one per proxy")
    parser.add_argument("--max-vms-per-snapshot", type=int, default=16)
    parser.add_argument("--block-size", default="1M", help="backup_block_size, the data mover's chunk size")
    parser.add_argument(
        "--data-mover-idle",
        help="backup_data_mover_idle (default: the playbook's, one data mover process per proxy and run; 0: per job)",
    )
    parser.add_argument("--collections", type=Path, default=REPO_ROOT / "build/install")
    parser.add_argument("--package-version", default="0.1.0", help="the proxy package to deploy (make proxy-package)")
    parser.add_argument("--work", type=Path, default=REPO_ROOT / "build/bench-job")
    args = parser.parse_args(argv)
    args.work = args.work.resolve()
    configs = [
        Config(int(vms), int(proxies), size_of(args.disk), args.block_size, args.data_mover_idle)
        for vms in filter(None, args.vms.split(","))  # --vms "": the big disks only
        for proxies in args.proxies.split(",")
    ]
    if args.big_vms:
        big_disk = size_of(args.big_disk)
        configs += [
            Config(args.big_vms, int(n), big_disk, args.block_size, args.data_mover_idle)
            for n in args.big_proxies.split(",")
        ]
    for config in configs:
        print(f"==> {config.vms} VMs, {config.proxies} proxies, {config.disk // MiB} MiB disks", flush=True)
        run_config(args, config)
        print("\n".join(table([config])[1:]), flush=True)
        print(f"   a run of one VM (the run's fixed part): {config.fixed_s} s", flush=True)
    # VMs alternate hosts and CSVs: 4 (host, CSV) components, each cut at max_vms_per_snapshot
    per_component = lambda vms: -(-(vms // 4 or 1) // args.max_vms_per_snapshot)  # noqa: E731
    groups = {c.vms: 4 * per_component(c.vms) for c in configs}
    lines = [*table(configs), "", *targets(configs, groups)]
    big = [c for c in configs if c.disk >= 256 * MiB]
    for config in big:
        ratio = day(config, 2).wall_s / day(config, 1).wall_s
        lines.append(
            f"{'PASS' if ratio <= 0.2 else 'MISS'}  day-2 wall <= 1/5 of day 1"
            f" ({config.vms} VMs, {config.proxies} px, {config.disk // MiB} MiB disks, {config.block} chunks):"
            f" {ratio:.2f}"
        )
    seconds = planning_seconds(args.collections)
    lines.append(f"{'PASS' if seconds <= 1 else 'MISS'}  planning <= 1 s for 1,000 VMs: {seconds * 1000:.1f} ms")
    print("\n".join(lines))
    (args.work / "results.json").write_text(json.dumps([asdict(c) for c in configs], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
