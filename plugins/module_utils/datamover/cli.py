"""Command line of the data mover (``hyperv-datamover``) and the option handling it shares with the module.

The Ansible module ``backup.hyperv.data_mover`` and this command line take the same options under the
same names (``repository``, ``vm``, ``source``, ``block_size``...); both hand them to
:func:`run_operation`, which calls the engine and shapes its reply (adding ``changed``). Only the way
options arrive differs: argparse here, AnsibleModule there.

Secrets never travel on the command line: the passphrase comes from ``--passphrase-file`` or the
``BACKUP_HYPERV_PASSPHRASE`` environment variable.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, TextIO, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import engine
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.constants import (
    CIPHERS,
    COMPRESSION_LEVELS,
    CONFIG_FILE,
    DEFAULT_CHUNK_SIZE,
    HASH_ALGORITHMS,
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.outputs import output_name

PASSPHRASE_ENV = "BACKUP_HYPERV_PASSPHRASE"
ENCRYPTIONS = ("none", *CIPHERS)
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}

Progress = Callable[[int, int], None]


def parse_block_size(value: Any) -> int:
    """Bytes from ``1048576``, ``"1M"``, ``"512KiB"``...; a power of two between 256 KiB and 8 MiB."""
    match = _SIZE.match(str(value))
    if match is None:
        raise DataMoverError(f"block_size {value!r} is not a size such as 1048576, 512K or 1M")
    size = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if not MIN_CHUNK_SIZE <= size <= MAX_CHUNK_SIZE or size & (size - 1):
        raise DataMoverError(f"block_size {value!r} must be a power of two between 256K and 8M")
    return size


def _range_pair(item: Any, path: str) -> Tuple[int, int]:
    pair = (item.get("offset"), item.get("length")) if isinstance(item, Mapping) else item
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        raise DataMoverError(f"changed_ranges for {path}: {item!r} is not {{offset, length}} or [offset, length]")
    offset, length = pair
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in pair) or offset < 0 or length <= 0:
        raise DataMoverError(f"changed_ranges for {path}: offset must be >= 0 and length > 0 (got {item!r})")
    return offset, length


def parse_changed_ranges(value: Optional[Mapping[str, Any]]) -> Optional[Dict[str, List[Tuple[int, int]]]]:
    """``{path: [{offset, length} | [offset, length], ...]}`` -> ``{path: [(offset, length), ...]}``."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise DataMoverError("changed_ranges must map each source path to a list of {offset, length}")
    return {str(path): [_range_pair(item, path) for item in items or []] for path, items in value.items()}


def ranges_by_source(ranges: Optional[Dict[str, list]], sources: Sequence[str]) -> Optional[Dict[str, list]]:
    """Key each range list by the source it names (same string, same real path, or same file name).

    A key that names no source is an error: silently reading that disk in full would hide the mistake.
    """
    if ranges is None:
        return None
    by_real = {os.path.realpath(source): source for source in sources}
    by_name = {os.path.basename(source): source for source in sources}
    keyed = {}
    for key, items in ranges.items():
        source = key if key in sources else by_real.get(os.path.realpath(key)) or by_name.get(key)
        if source is None:
            raise DataMoverError(f"changed_ranges names {key}, which is not one of the sources")
        keyed[source] = items
    return keyed


def _engine_encryption(name: Optional[str]) -> Optional[str]:
    return None if name in (None, "none") else name


def _backup(p: Mapping[str, Any], check_mode: bool, progress: Optional[Progress]) -> Dict[str, Any]:
    _refuse_plaintext_with_passphrase(p)
    return engine.backup(
        p["repository"], p["vm"], p["source"], passphrase=p.get("passphrase"),
        block_size=parse_block_size(p.get("block_size") or DEFAULT_CHUNK_SIZE),
        compression=p.get("compression") or "default", hash_algorithm=p.get("hash") or "blake3",
        changed_ranges=ranges_by_source(parse_changed_ranges(p.get("changed_ranges")), p["source"]),
        check_mode=check_mode,
        lock_timeout=p.get("lock_timeout") or 0, progress=progress, workers=p.get("workers"),
        encryption=_engine_encryption(p.get("encryption")),
    )  # fmt: skip


def find_restore_point(repository: str, vm: str, wanted: str, passphrase: Optional[str]) -> Dict[str, Any]:
    """The restore point ``wanted`` (an id, or ``latest`` of ``vm``) as ``list`` describes it."""
    points = engine.list_restore_points(repository, vm=vm, passphrase=passphrase)["vms"].get(vm, [])
    if wanted != "latest":
        points = [point for point in points if point["id"] == wanted]
    if not points:
        raise DataMoverError(f"VM {vm!r} has no restore point {wanted!r} in {repository}")
    return points[-1]


def plan_restore(p: Mapping[str, Any]) -> Dict[str, Any]:
    """What a restore would write (the real one's reply without stats); fails as the real one would."""
    point = find_restore_point(p["repository"], p["vm"], p.get("restore_point") or "latest", p.get("passphrase"))
    fmt, folder = p.get("format") or "vhdx", p["destination"]
    outputs = [{"name": d["name"], "path": os.path.join(folder, output_name(d, fmt)), "format": fmt,
                "size": d["virtual_size"]} for d in point["disks"]]  # fmt: skip
    outputs += [{"name": f["name"], "path": os.path.join(folder, f["name"]), "format": "raw", "size": f["size"]}
                for f in point["files"]]  # fmt: skip
    existing = [o["path"] for o in outputs if os.path.exists(o["path"])]
    if existing and not p.get("overwrite"):
        raise DataMoverError(f"destination exists: {', '.join(existing)} (set overwrite to replace)")
    return {"changed": True, "restore_point": point["id"], "vm": p["vm"], "outputs": outputs}


def _refuse_plaintext_with_passphrase(p: Mapping[str, Any]) -> None:
    """``encryption: none`` plus a passphrase is a contradiction when a repository is about to be created."""
    creating = not os.path.exists(os.path.join(p["repository"], CONFIG_FILE))
    if creating and p.get("encryption") == "none" and p.get("passphrase"):
        raise DataMoverError("encryption is 'none' but a passphrase was given: choose a cipher or drop the passphrase")


def _restore(p: Mapping[str, Any], check_mode: bool, progress: Optional[Progress]) -> Dict[str, Any]:
    if check_mode:
        return plan_restore(p)
    return engine.restore(
        p["repository"], p["vm"], p["destination"], restore_point=p.get("restore_point") or "latest",
        format=p.get("format") or "vhdx", passphrase=p.get("passphrase"), overwrite=bool(p.get("overwrite")),
        progress=progress, lock_timeout=p.get("lock_timeout") or 0, workers=p.get("workers"),
    )  # fmt: skip


def _verify(p: Mapping[str, Any], check_mode: bool, progress: Optional[Progress]) -> Dict[str, Any]:
    point = p.get("restore_point")
    result = engine.verify(
        p["repository"], vm=p.get("vm"), restore_point=None if point == "latest" else point,
        passphrase=p.get("passphrase"), progress=progress, lock_timeout=p.get("lock_timeout") or 0,
        workers=p.get("workers"),
    )  # fmt: skip
    return dict(result, changed=False)


def _list(p: Mapping[str, Any], check_mode: bool, progress: Optional[Progress]) -> Dict[str, Any]:
    return dict(engine.list_restore_points(p["repository"], vm=p.get("vm"), passphrase=p.get("passphrase")),
                changed=False)  # fmt: skip


def _prune(p: Mapping[str, Any], check_mode: bool, progress: Optional[Progress]) -> Dict[str, Any]:
    return engine.prune(p["repository"], p["keep_last"], vm=p.get("vm"), passphrase=p.get("passphrase"),
                        check_mode=check_mode, lock_timeout=p.get("lock_timeout") or 0)  # fmt: skip


def _init(p: Mapping[str, Any], check_mode: bool, progress: Optional[Progress]) -> Dict[str, Any]:
    _refuse_plaintext_with_passphrase(p)
    return engine.init_repository(p["repository"], passphrase=p.get("passphrase"),
                                  encryption=_engine_encryption(p.get("encryption")),
                                  hash_algorithm=p.get("hash") or "blake3")  # fmt: skip


_HANDLERS = {"backup": _backup, "restore": _restore, "verify": _verify, "list": _list, "prune": _prune, "init": _init}


def run_operation(
    operation: str, params: Mapping[str, Any], check_mode: bool = False, progress: Optional[Progress] = None
) -> Dict[str, Any]:
    """Run one operation with module-style ``params``; the engine's reply, always with ``changed``."""
    return _HANDLERS[operation](params, check_mode, progress)


class ProgressBar:
    """``progress(done, total)`` callback drawing one line on a stream: percent, bytes, bytes/s and ETA."""

    def __init__(self, stream: TextIO, interval: float = 0.2, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream, self._interval, self._clock = stream, interval, clock
        self._start = clock()
        self._last = -interval
        self._lock = threading.Lock()  # the engine may report from worker threads

    def __call__(self, done: int, total: int) -> None:
        with self._lock:
            now = self._clock()
            if now - self._last < self._interval and done < total:
                return
            self._last = now
            self._stream.write("\r" + self.render(done, total, now - self._start))
            self._stream.flush()

    def finish(self) -> None:
        self._stream.write("\n")
        self._stream.flush()

    @staticmethod
    def render(done: int, total: int, elapsed: float, width: int = 24) -> str:
        fraction = min(1.0, done / total) if total > 0 else 0.0
        speed = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / speed if speed > 0 else None
        filled = "#" * int(fraction * width) + "-" * (width - int(fraction * width))
        eta_text = "--:--" if eta is None else "{}:{:02d}".format(*divmod(int(eta), 60))
        amounts = f"{human_bytes(done)}/{human_bytes(total)} {human_bytes(speed)}/s"
        return f"[{filled}] {fraction * 100:5.1f}% {amounts} ETA {eta_text}"


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024:
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return f"{count:.1f} TiB"


def read_passphrase(path: Optional[str], environ: Mapping[str, str]) -> Optional[str]:
    """The passphrase from a file (first line) or the environment; ``None`` when neither is given."""
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.readline().rstrip("\r\n")
        except OSError as exc:
            raise DataMoverError(f"cannot read passphrase file {path}: {exc.strerror}") from exc
    return environ.get(PASSPHRASE_ENV) or None


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    common.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    common.add_argument("--progress", action="store_true", default=None,
                        help="draw a progress bar on stderr (default: only when stderr is a terminal)")  # fmt: skip
    common.add_argument("--no-progress", dest="progress", action="store_false", help="never draw a progress bar")
    common.add_argument(
        "--passphrase-file",
        metavar="FILE",
        help=f"read the repository passphrase from the first line of FILE (else ${PASSPHRASE_ENV})",
    )
    common.add_argument(
        "--lock-timeout",
        type=float,
        default=0,
        metavar="SECONDS",
        help="wait this long for a conflicting repository lock (default: fail at once)",
    )
    return common


def _add_operations(sub: Any, common: argparse.ArgumentParser) -> None:
    def add(name: str, text: str, repository_help: str = "repository directory") -> argparse.ArgumentParser:
        # allow_abbrev=False: "--passphrase SECRET" must fail, not be taken for --passphrase-file
        parser = sub.add_parser(name, parents=[common], help=text, description=text, allow_abbrev=False)
        parser.add_argument("repository", help=repository_help)
        return parser

    init = add("init", "create an empty repository")
    init.add_argument("--encryption", choices=ENCRYPTIONS, help="default: aes-256-gcm with a passphrase, else none")
    init.add_argument("--hash", choices=HASH_ALGORITHMS, default="blake3", help="chunk id hash")
    backup = add("backup", "store the VM's disks and files as a new restore point (creates the repository)")
    backup.add_argument("source", nargs="+", help="virtual disks (VHDX, raw) and VM files")
    backup.add_argument("--vm", required=True, help="VM name the restore point belongs to")
    backup.add_argument("--block-size", default="1M", help="chunk size, 256K..8M (default 1M)")
    backup.add_argument("--compression", choices=tuple(COMPRESSION_LEVELS), default="default")
    backup.add_argument("--hash", choices=HASH_ALGORITHMS, default="blake3", help="chunk id hash of a new repository")
    backup.add_argument("--encryption", choices=ENCRYPTIONS, default=None, help="cipher of a new repository")
    backup.add_argument("--changed-ranges", metavar="FILE", help="JSON {source: [[offset, length], ...]} from RCT")
    backup.add_argument("--workers", type=int, help="worker threads (default: one per core)")
    backup.add_argument("--dry-run", action="store_true", help="estimate only; write nothing")
    restore = add("restore", "write a restore point's disks and files to a directory")
    restore.add_argument("destination", help="directory to write to")
    restore.add_argument("--vm", required=True)
    restore.add_argument("--restore-point", default="latest", help="restore point id or 'latest'")
    restore.add_argument("--format", choices=("vhdx", "raw"), default="vhdx")
    restore.add_argument("--overwrite", action="store_true", help="replace existing files")
    restore.add_argument("--dry-run", action="store_true", help="show what would be restored; write nothing")
    verify = add("verify", "read back and check stored data (exit status 3 when damage is found)")
    verify.add_argument("--vm")
    verify.add_argument("--restore-point", help="restore point id (default: all)")
    listing = add("list", "list restore points")
    listing.add_argument("--vm")
    prune = add("prune", "forget old restore points and remove the data only they used")
    prune.add_argument("--keep-last", type=int, required=True, help="restore points to keep per VM")
    prune.add_argument("--vm")
    prune.add_argument("--dry-run", action="store_true", help="show what would be removed; remove nothing")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hyperv-datamover",
        allow_abbrev=False,
        description="Deduplicating, compressing, verifiable backup of Hyper-V VM disks (the backup.hyperv data mover).",
    )
    _add_operations(parser.add_subparsers(dest="operation", required=True, metavar="OPERATION"), _common_options())
    return parser


def _load_ranges(path: Optional[str]) -> Optional[Dict[str, List[Tuple[int, int]]]]:
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return parse_changed_ranges(json.load(handle))
    except (OSError, ValueError) as exc:
        raise DataMoverError(f"cannot read changed ranges from {path}: {exc}") from exc


def _summary(result: Mapping[str, Any]) -> List[str]:
    """Human-readable lines: scalars as they are, byte counts readable, lists as one line per item."""
    lines = []
    for key, value in result.items():
        if key == "vms":  # list: one line per restore point
            for vm, points in value.items():
                lines.append(f"{vm}: {len(points)} restore point(s)")
                lines.extend(f"  {p['id']}  {p['time'][:19]}  {len(p['disks'])} disk(s), {len(p['files'])} file(s), "
                             f"stored {human_bytes(p['stats'].get('bytes_stored', 0))}" for p in points)  # fmt: skip
        elif isinstance(value, Mapping):
            text = ", ".join(f"{k} {human_bytes(v) if k.startswith('bytes') else v}" for k, v in value.items())
            lines.append(f"{key}: {text}")
        elif isinstance(value, list):
            lines.append(f"{key}: {len(value)}")
            lines.extend(f"  {json.dumps(item, sort_keys=True, default=str)}" for item in value)
        else:
            lines.append(f"{key}: {value}")
    return lines


def main(argv: Optional[Sequence[str]] = None, environ: Optional[Mapping[str, str]] = None,
         stdout: Optional[TextIO] = None, stderr: Optional[TextIO] = None) -> int:  # fmt: skip
    """Run the command line; returns the exit status (0 ok, 1 error, 2 usage, 3 verify found damage, 130 ^C)."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    args = build_parser().parse_args(argv)
    params = dict(vars(args))
    show_progress = args.progress if args.progress is not None else stderr.isatty()
    progress_bar = ProgressBar(stderr) if show_progress else None
    try:
        params["passphrase"] = read_passphrase(args.passphrase_file, os.environ if environ is None else environ)
        params["changed_ranges"] = _load_ranges(getattr(args, "changed_ranges", None))
        result = run_operation(args.operation, params, getattr(args, "dry_run", False), progress_bar)
    except DataMoverError as err:
        stderr.write(f"{'' if progress_bar is None else chr(10)}hyperv-datamover: error: {err}\n")
        return 1
    except KeyboardInterrupt:  # the engine has already discarded the unfinished restore point
        stderr.write("\nhyperv-datamover: interrupted\n")
        return 130
    if progress_bar is not None:
        progress_bar.finish()
    stdout.write(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n" if args.json
                 else "\n".join(_summary(result)) + "\n")  # fmt: skip
    return 3 if args.operation == "verify" and not result.get("ok", True) else 0
