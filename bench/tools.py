"""Run each backup tool as a subprocess under ``/usr/bin/time -v`` and record what it cost.

Every tool gets the same input (the live VM directories of the corpus) and is encrypted (restic always
is; borg ``repokey-blake2``; ours ``aes-256-gcm``) so the comparison is fair. Every tool takes all VMs of a
step in one process (ours with ``--job``; restic and borg with every VM's files as one snapshot or archive),
so each pays its start-up and key unlock once; the "process per VM" rows run one process per VM, as a
script looping over VMs would. A ``Run`` is one step of one tool summed over its processes: wall and CPU
seconds add up, peak RSS is the maximum. Every timed step ends durable the same way for every tool: a
``sync -f`` of the folder it wrote, timed as part of the step (ours fsyncs its packs itself, the peers leave
their writes to the kernel; without it only ours would pay for durability inside the timing).
"""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PASSPHRASE = "bench-passphrase"
REPO_ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = REPO_ROOT / "bin" / "hyperv-datamover"
_TIME_FIELDS = {
    "user": re.compile(r"User time \(seconds\): ([\d.]+)"),
    "system": re.compile(r"System time \(seconds\): ([\d.]+)"),
    "rss_kib": re.compile(r"Maximum resident set size \(kbytes\): (\d+)"),
}


@dataclass
class Run:
    """Cost of one step of one tool, summed over the VMs it ran for."""

    tool: str
    step: str
    wall: float = 0.0
    cpu: float = 0.0
    peak_rss: int = 0  # bytes
    stored: int = 0  # repository bytes after the step
    content: int = 0  # logical content bytes when not the corpus' (the single-disk memory runs)
    samples: list = field(default_factory=list)  # wall seconds of every repetition, when the step was repeated

    def add(self, wall: float, cpu: float, rss: int) -> None:
        self.wall += wall
        self.cpu += cpu
        self.peak_rss = max(self.peak_rss, rss)


def measured(run: Run, command: list, env: dict, cwd: Path | None = None) -> str:
    """Run ``command`` under /usr/bin/time -v, add its cost to ``run``; return its stdout."""
    started = time.perf_counter()
    result = subprocess.run(
        ["/usr/bin/time", "-v", *command], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        detail = f"{' '.join(command)}\n{result.stderr[-3000:]}"
        raise RuntimeError(f"{run.tool} {run.step} failed ({result.returncode}): {detail}")
    values = {k: float(p.search(result.stderr).group(1)) for k, p in _TIME_FIELDS.items()}
    run.add(wall, values["user"] + values["system"], int(values["rss_kib"]) * 1024)
    return result.stdout


def make_durable(run: Run, written: Path) -> None:
    """End ``run`` the same way for every tool: flush the file system holding ``written`` (``syncfs``), timed
    and added to the step, so every tool is timed until its writes are on disk."""
    measured(run, ["sync", "-f", str(written)], dict(os.environ))


def use_collection() -> None:
    """Make the checkout importable as ansible_collections.backup.hyperv, exactly as the launcher does."""
    root = runpy.run_path(str(LAUNCHER))["collections_root"](LAUNCHER, dict(os.environ))
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))


def repository_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def versions(peers: list) -> dict:
    """Versions of the peer tools, for the JSON record."""
    commands = {"restic": ["restic", "version"], "borg": ["borg", "--version"]}
    names = {p.name for p in peers}
    wanted = {name: cmd for name, cmd in commands.items() if name in names}
    found = {name: subprocess.run(cmd, capture_output=True, text=True, check=False) for name, cmd in wanted.items()}
    return {name: result.stdout.strip() for name, result in found.items()}


def ensure_installed() -> None:
    """restic and borg come from apt; install them when absent (the bench needs the real tools)."""
    missing = [pkg for cmd, pkg in (("restic", "restic"), ("borg", "borgbackup")) if shutil.which(cmd) is None]
    if missing:
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *missing], check=True)


class Tool:
    """What every tool of the benchmark has: a repository under the work directory."""

    repo: Path

    def remove(self) -> None:
        """Delete the repository (a step after the tool's last frees its disk space for the next tool)."""
        shutil.rmtree(self.repo, ignore_errors=True)


class Ours(Tool):
    """The backup.hyperv data mover through its command line (bin/hyperv-datamover).

    ``job_mode``: one process backs up (or restores) every VM against one open repository (``--job``), as
    restic and borg take the whole corpus in one process; otherwise one process per VM.
    """

    name = "hyperv-datamover"

    def __init__(self, work: Path, label: str = "ours", job_mode: bool = True, launcher: Path = LAUNCHER) -> None:
        self.label, self.compression, self.job_mode, self.launcher = label, "default", job_mode, launcher
        self.repo = repository_for(work, label)
        self.jobs = work / "jobs"
        self.secret = work / "passphrase.txt"
        # as installed Python software runs (borg from apt ships compiled bytecode): cached, not compiled per run
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def _cli(self, *args: str) -> list:
        return [
            sys.executable,
            str(self.launcher),
            *args,
            "--passphrase-file",
            str(self.secret),
            "--no-progress",
            "--json",
        ]

    def init(self) -> None:
        self.remove()
        self.secret.write_text(PASSPHRASE + "\n")
        command = self._cli("init", str(self.repo), "--encryption", "aes-256-gcm")
        subprocess.run(command, env=self.env, check=True, capture_output=True)

    def backup(self, run: Run, vm: str, paths: list, ranges_file: Path | None = None) -> None:
        extra = ["--changed-ranges", str(ranges_file)] if ranges_file else []
        args = ["backup", str(self.repo), "--vm", vm, "--compression", self.compression, *extra, *map(str, paths)]
        measured(run, self._cli(*args), self.env)

    def backup_job(self, run: Run, live: dict, ranges: dict | None = None) -> None:
        """Every VM of ``live`` ({vm: paths}) in one process; ``ranges``: {vm: changed ranges file}."""
        measured(run, self.backup_job_command(live, ranges), self.env)

    def backup_job_command(self, live: dict, ranges: dict | None = None) -> list:
        """The command line backing up every VM of ``live`` in one process (its job file written)."""
        entries = [
            {"vm": vm, "sources": list(map(str, paths)), "changed_ranges": _ranges(ranges, vm)}
            for vm, paths in live.items()
        ]
        job = self._job_file("backup", entries)
        return self._cli("backup", str(self.repo), "--job", str(job), "--compression", self.compression)

    def restore(self, run: Run, vm: str, target: Path) -> None:
        measured(run, self._cli("restore", str(self.repo), str(target), "--vm", vm, "--overwrite"), self.env)

    def restore_job(self, run: Run, targets: dict) -> None:
        """Restore the latest point of every VM of ``targets`` ({vm: folder}) in one process."""
        entries = [{"vm": vm, "destination": str(target), "overwrite": True} for vm, target in targets.items()]
        measured(run, self._cli("restore", str(self.repo), "--job", str(self._job_file("restore", entries))), self.env)

    def _job_file(self, operation: str, entries: list) -> Path:
        self.jobs.mkdir(parents=True, exist_ok=True)
        path = self.jobs / f"{self.repo.name}-{operation}.json"
        path.write_text(json.dumps(entries))
        return path


def repository_for(work: Path, label: str) -> Path:
    """Where a tool labelled ``label`` keeps its repository: the label with anything but letters, digits and
    dashes folded to one dash."""
    return work / f"repo-{re.sub(r'[^A-Za-z0-9-]+', '-', label).strip('-')}"


def _ranges(ranges: dict | None, vm: str) -> list | None:
    """The changed ranges of ``vm`` read from its file of ``ranges`` ({vm: file}); None without ranges."""
    return json.loads(ranges[vm].read_text()) if ranges else None


def all_paths(live: dict) -> list:
    """Every file of every VM of ``live`` ({vm: paths}), for a tool taking the whole corpus at once."""
    return [str(path) for paths in live.values() for path in paths]


class Restic(Tool):
    """restic with its defaults: CDC ~1 MiB, zstd ``auto`` (zstd default level), AES-256 + Poly1305."""

    name = "restic"

    def __init__(self, work: Path, label: str = "restic", job_mode: bool = True) -> None:
        self.label, self.job_mode = label, job_mode
        self.repo = repository_for(work, label)
        repository = {"RESTIC_PASSWORD": PASSPHRASE, "RESTIC_REPOSITORY": str(self.repo)}
        self.env = dict(os.environ, **repository, RESTIC_CACHE_DIR=str(work / "cache-restic"))

    def init(self) -> None:
        self.remove()
        subprocess.run(["restic", "init", "--repository-version", "2"], env=self.env, check=True, capture_output=True)

    def backup(self, run: Run, vm: str, paths: list, ranges_file: Path | None = None) -> None:
        command = ["restic", "backup", "-q", "--compression", "auto", "--host", "bench", "--tag", vm, *map(str, paths)]
        measured(run, command, self.env)

    def backup_job(self, run: Run, live: dict, ranges: dict | None = None) -> None:
        """All VMs as one snapshot (its parent is found by the same paths, so day 2 is incremental)."""
        self.backup(run, "all", all_paths(live))

    def restore(self, run: Run, vm: str, target: Path) -> None:
        measured(run, ["restic", "restore", "latest", "--tag", vm, "--target", str(target), "-q"], self.env)

    def restore_job(self, run: Run, targets: dict) -> None:
        """The latest snapshot, every VM, into the first target (the caller removes them all)."""
        self.restore(run, "all", next(iter(targets.values())))


class Borg(Tool):
    """borg 1.2 with zstd level 3 (default would be lz4) and repokey-blake2; CDC or fixed chunking."""

    name = "borg"

    job_mode = True  # every VM in one archive

    def __init__(self, work: Path, label: str = "borg", chunker: str | None = None) -> None:
        self.label, self.repo, self.chunker = label, work / f"repo-{label}", chunker
        repository = {"BORG_PASSPHRASE": PASSPHRASE, "BORG_REPO": str(self.repo)}
        self.env = dict(os.environ, **repository, BORG_BASE_DIR=str(work / f"home-{label}"))

    def init(self) -> None:
        self.remove()
        command = ["borg", "init", "--encryption", "repokey-blake2"]
        subprocess.run(command, env=self.env, check=True, capture_output=True)

    def remove(self) -> None:
        super().remove()
        shutil.rmtree(self.env["BORG_BASE_DIR"], ignore_errors=True)  # its cache and security files name the repo

    def backup(self, run: Run, vm: str, paths: list, ranges_file: Path | None = None) -> None:
        chunker = ["--chunker-params", self.chunker] if self.chunker else []
        archive = f"::{vm}-{time.time_ns()}"
        measured(run, ["borg", "create", "--compression", "zstd,3", *chunker, archive, *map(str, paths)], self.env)

    def backup_job(self, run: Run, live: dict, ranges: dict | None = None) -> None:
        self.backup(run, "all", all_paths(live))

    def restore(self, run: Run, vm: str, target: Path) -> None:
        target.mkdir(parents=True, exist_ok=True)
        listing = ["borg", "list", "--short", "--glob-archives", f"{vm}-*"]
        names = subprocess.run(listing, env=self.env, check=True, capture_output=True, text=True).stdout.split()
        measured(run, ["borg", "extract", "--sparse", f"::{names[-1]}"], self.env, cwd=target)

    def restore_job(self, run: Run, targets: dict) -> None:
        self.restore(run, "all", next(iter(targets.values())))
