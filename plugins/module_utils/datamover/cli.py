"""Command line of the data mover (``hyperv-datamover``) and the option handling it shares with the module.

The Ansible module ``backup.hyperv.data_mover`` and this command line take the same options under the
same names (``repository``, ``vm``, ``source``, ``block_size``...); both hand them to
:func:`run_operation` (operations.py), which calls the engine and shapes its reply (adding ``changed``).
Only the way options arrive differs: argparse here, AnsibleModule there. ``backup --job FILE`` and
``restore --job FILE`` run several VMs in one process against one open repository (run/jobs.py).

Secrets never travel on the command line: the passphrase comes from ``--passphrase-file`` or the
``BACKUP_HYPERV_PASSPHRASE`` environment variable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, TextIO, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.options import (
    parse_block_size,
    parse_changed_ranges,
    ranges_by_source,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.progress import ProgressBar, human_bytes
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.pipeline import keep_freed_buffers
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    CIPHERS,
    COMPRESSION_LEVELS,
    HASH_ALGORITHMS,
    KDFS,
    KEY_FILE,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.kdf import derive_ahead

__all__ = [
    "PASSPHRASE_ENV",
    "ProgressBar",
    "build_parser",
    "human_bytes",
    "main",
    "parse_block_size",
    "parse_changed_ranges",
    "ranges_by_source",
    "read_passphrase",
]

PASSPHRASE_ENV = "BACKUP_HYPERV_PASSPHRASE"
ENCRYPTIONS = ("none", *CIPHERS)
JOB_HELP = {
    "backup": 'JSON list of {"vm": NAME, "sources": [PATH...], "changed_ranges": {PATH: [[offset, length]...]}}',
    "restore": 'JSON list of {"vm": NAME, "destination": DIR, "restore_point": ID, "format": "vhdx"|"raw", '
    '"overwrite": BOOL}',
}


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
    tty_only = "draw a progress bar on stderr (default: only when stderr is a terminal)"
    common.add_argument("--progress", action="store_true", default=None, help=tty_only)
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
    init.add_argument("--kdf", choices=KDFS, default=KDFS[0], help="passphrase key derivation")
    backup = add("backup", "store the VM's disks and files as a new restore point (creates the repository)")
    backup.add_argument("source", nargs="*", help="virtual disks (VHDX, raw) and VM files")
    backup.add_argument("--vm", help="VM name the restore point belongs to")
    backup.add_argument("--job", metavar="FILE", help=f"back up several VMs at once: {JOB_HELP['backup']}")
    backup.add_argument("--block-size", default="1M", help="chunk size, 256K..8M (default 1M)")
    backup.add_argument("--compression", choices=tuple(COMPRESSION_LEVELS), default="default")
    backup.add_argument("--hash", choices=HASH_ALGORITHMS, default="blake3", help="chunk id hash of a new repository")
    backup.add_argument("--encryption", choices=ENCRYPTIONS, default=None, help="cipher of a new repository")
    backup.add_argument("--kdf", choices=KDFS, default=KDFS[0], help="passphrase key derivation of a new repository")
    backup.add_argument("--changed-ranges", metavar="FILE", help="JSON {source: [[offset, length], ...]} from RCT")
    backup.add_argument("--workers", type=int, help="worker threads (default: one per core)")
    backup.add_argument("--dry-run", action="store_true", help="estimate only; write nothing")
    restore = add("restore", "write a restore point's disks and files to a directory")
    restore.add_argument("destination", nargs="?", help="directory to write to")
    restore.add_argument("--vm")
    restore.add_argument("--job", metavar="FILE", help=f"restore several VMs at once: {JOB_HELP['restore']}")
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
                lines.extend(_point_line(point) for point in points)
        elif isinstance(value, Mapping):
            text = ", ".join(f"{k} {human_bytes(v) if k.startswith('bytes') else v}" for k, v in value.items())
            lines.append(f"{key}: {text}")
        elif isinstance(value, list):
            lines.append(f"{key}: {len(value)}")
            lines.extend(f"  {json.dumps(item, sort_keys=True, default=str)}" for item in value)
        else:
            lines.append(f"{key}: {value}")
    return lines


def _point_line(point: Mapping[str, Any]) -> str:
    contents = f"{len(point['disks'])} disk(s), {len(point['files'])} file(s)"
    stored = human_bytes(point["stats"].get("bytes_stored", 0))
    return f"  {point['id']}  {point['time'][:19]}  {contents}, stored {stored}"


def main(
    argv: Optional[Sequence[str]] = None,
    environ: Optional[Mapping[str, str]] = None,
    stdout: Optional[TextIO] = None,
    stderr: Optional[TextIO] = None,
) -> int:
    """Run the command line; returns the exit status (0 ok, 1 error, 2 usage, 3 verify found damage, 130 ^C)."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    keep_freed_buffers()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    _take_late_positionals(parser, args, extra)
    _check_job_or_single(parser, args)
    params = dict(vars(args))
    show_progress = args.progress if args.progress is not None else stderr.isatty()
    progress_bar = ProgressBar(stderr) if show_progress else None
    try:
        params["passphrase"] = read_passphrase(args.passphrase_file, os.environ if environ is None else environ)
        derive_ahead(os.path.join(args.repository, KEY_FILE), params["passphrase"])
        # imported only now, so that loading the engine overlaps with the key derivation just started
        from ansible_collections.backup.hyperv.plugins.module_utils.datamover.job_entries import load_job_file
        from ansible_collections.backup.hyperv.plugins.module_utils.datamover.operations import run_operation

        params["changed_ranges"] = _load_ranges(getattr(args, "changed_ranges", None))
        params["jobs"] = load_job_file(args.job) if getattr(args, "job", None) else None
        result = run_operation(args.operation, params, getattr(args, "dry_run", False), progress_bar)
    except DataMoverError as err:
        stderr.write(f"{'' if progress_bar is None else chr(10)}hyperv-datamover: error: {err}\n")
        return 1
    except KeyboardInterrupt:  # the engine has already discarded the unfinished restore point
        stderr.write("\nhyperv-datamover: interrupted\n")
        return 130
    if progress_bar is not None:
        progress_bar.finish()
    text = json.dumps(result, indent=2, sort_keys=True, default=str) if args.json else "\n".join(_summary(result))
    stdout.write(text + "\n")
    if result.get("failed_vms"):  # a job with failed VMs: the others are done, the status says not all
        stderr.write(f"hyperv-datamover: error: {args.operation} failed for VM {', '.join(result['failed_vms'])}\n")
        return 1
    return 3 if args.operation == "verify" and not result.get("ok", True) else 0


def _take_late_positionals(parser: argparse.ArgumentParser, args: argparse.Namespace, extra: List[str]) -> None:
    """Sources (or the destination) given after options: argparse leaves them over, since with ``--job``
    they are optional and an optional positional is filled (empty) at its first chance."""
    stray = [item for item in extra if not item.startswith("-")]
    if len(stray) == len(extra) and args.operation == "backup":
        args.source = [*args.source, *stray]
    elif len(stray) == len(extra) == 1 and args.operation == "restore" and args.destination is None:
        args.destination = stray[0]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")


def _check_job_or_single(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """backup and restore take either --job FILE or one VM (--vm and its sources or destination)."""
    if args.operation not in ("backup", "restore"):
        return
    single = {"backup": ("source", "sources"), "restore": ("destination", "a destination")}[args.operation]
    if args.job and (args.vm or getattr(args, single[0])):
        parser.error(f"{args.operation} --job takes the VMs from the job file: drop --vm and the {single[1]}")
    if not args.job and not (args.vm and getattr(args, single[0])):
        parser.error(f"{args.operation} needs --vm and {single[1]}, or --job FILE")
