"""Command line of the data mover (``hyperv-datamover``): the human one, and the one a Windows proxy runs.

The command line builds the same options object as the Ansible module ``backup.hyperv.data_mover``
(``DataMoverOptions.from_args``, settings.py) and hands it to the same entry point (``operations.run``),
which calls the engine and shapes its reply (adding ``changed``). ``backup --job FILE`` and
``restore --job FILE`` run several VMs in one process against one open repository (run/jobs.py).

``hyperv-datamover serve`` runs such documents one after another in one process, as a proxy hands them over
(server.py).

``hyperv-datamover run --options -`` reads one options document (``DataMoverOptions.to_json``) from stdin
and prints the JSON result, so nothing is quoted into argv; ``run --options-file FILE`` reads it from a file it
deletes at once: what the scheduled task on a Windows proxy runs (options_document.py).

Secrets never travel on the command line: the passphrase comes from ``--passphrase-file``, the
``BACKUP_HYPERV_PASSPHRASE`` environment variable, or inside the options document on stdin.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, TextIO

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.cli_guest import (
    LISTED,
    add_guest_operations,
    entry_lines,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.job_entries import load_job_file
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.options import (
    parse_block_size,
    parse_changed_ranges,
    ranges_by_source,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.options_document import (
    STDIN,
    read_document,
    take_document,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.progress import ProgressBar, human_bytes
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.pipeline import keep_freed_buffers
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import (
    Chunking,
    NewRepository,
    RestoreEntry,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.server import add_serve_command, serve_command
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.settings import DataMoverOptions
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    COMPRESSION_LEVELS,
    ENCRYPTIONS,
    HASH_ALGORITHMS,
    KDFS,
    KEY_FILE,
    RESTORE_FORMATS,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.kdf import derive_ahead
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.verdicts import EXIT_DAMAGE, damage_found

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
JOB_HELP = {
    "backup": 'JSON list of {"vm": NAME, "sources": [PATH...], "changed_ranges": {PATH: [[offset, length]...]}, '
    '"change_ids": {PATH: RCT_ID}}',
    "restore": 'JSON list of {"vm": NAME, "destination": DIR, "restore_point": ID, "format": "vhdx"|"raw", '
    '"overwrite": BOOL, "rollback": BOOL}',
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
    init.add_argument("--hash", choices=HASH_ALGORITHMS, help=f"chunk id hash (default {NewRepository.hash})")
    init.add_argument("--kdf", choices=KDFS, help=f"passphrase key derivation (default {NewRepository.kdf})")
    backup = add("backup", "store the VM's disks and files as a new restore point (creates the repository)")
    _add_backup_arguments(backup)
    restore = add("restore", "write a restore point's disks and files to a directory")
    restore.add_argument("destination", nargs="?", help="directory to write to")
    restore.add_argument("--vm")
    restore.add_argument("--job", metavar="FILE", help=f"restore several VMs at once: {JOB_HELP['restore']}")
    restore.add_argument("--restore-point", help=f"restore point id (default {RestoreEntry.restore_point})")
    restore.add_argument("--format", choices=RESTORE_FORMATS, help=f"(default {RestoreEntry.format})")
    restore.add_argument("--overwrite", action="store_true", help="replace existing files")
    salvage = "write what can be read of a damaged restore point; mark the lost ranges in OUTPUT.damaged.json"
    restore.add_argument("--salvage", action="store_true", help=salvage)
    rollback = "over an existing disk of the same size and format, write only the chunks that differ"
    restore.add_argument("--rollback", action="store_true", help=rollback)
    restore.add_argument("--dry-run", action="store_true", help="show what would be restored; write nothing")
    verify = add("verify", "read back and check stored data (exit status 3 when damage is found)")
    verify.add_argument("--vm")
    verify.add_argument("--restore-point", help="restore point id (default: all)")
    listing = add("list", "list restore points")
    listing.add_argument("--vm")
    baselines = add("baselines", "each VM's latest restore point and the RCT id it recorded per disk (read-only)")
    baselines.add_argument("--vm", dest="vms", action="append", help="a VM to describe (repeat; default: all)")
    prune = add("prune", "forget old restore points and remove the data only they used")
    prune.add_argument("--keep-last", type=int, required=True, help="restore points to keep per VM")
    prune.add_argument("--vm")
    prune.add_argument("--dry-run", action="store_true", help="show what would be removed; remove nothing")
    unlock = add("unlock", "remove stale repository locks, naming whose they were (a live lock refuses it)")
    unlock.add_argument("--force", action="store_true", help="remove live locks too (their run then fails)")
    unlock.add_argument("--dry-run", action="store_true", help="show what would be removed; remove nothing")
    forget = add("forget", "remove restore points from the catalog (their data stays until prune)")
    forget.add_argument("restore_points", nargs="+", metavar="ID", help="restore point id (see list)")
    forget.add_argument("--dry-run", action="store_true", help="show what would be removed; remove nothing")
    repair = add("repair", "rebuild the index from the packs, dropping damaged and missing chunks; name what it hits")
    repair.add_argument("--dry-run", action="store_true", help="show what would be done; write nothing")
    add_guest_operations(add)  # ls, find, restore-file (cli_guest.py)


def _add_backup_arguments(backup: argparse.ArgumentParser) -> None:
    """The sources or job of a backup, how to cut and store them, and what RCT says of them."""
    backup.add_argument("source", nargs="*", help="virtual disks (VHDX, raw) and VM files")
    backup.add_argument("--vm", help="VM name the restore point belongs to")
    backup.add_argument("--job", metavar="FILE", help=f"back up several VMs at once: {JOB_HELP['backup']}")
    backup.add_argument("--block-size", help=f"chunk size, 256K..8M (default {Chunking.block_size >> 10}K)")
    backup.add_argument("--compression", choices=tuple(COMPRESSION_LEVELS), help=f"(default {Chunking.compression})")
    backup.add_argument(
        "--hash", choices=HASH_ALGORITHMS, help=f"chunk id hash of a new repository ({NewRepository.hash})"
    )
    backup.add_argument("--encryption", choices=ENCRYPTIONS, help="cipher of a new repository")
    backup.add_argument("--kdf", choices=KDFS, help=f"key derivation of a new repository ({NewRepository.kdf})")
    backup.add_argument(
        "--changed-ranges",
        metavar="FILE",
        help='JSON {source: [[offset, length], ...] or {"since": RCT_ID, "ranges": [...] or null, "reason": TEXT}}',
    )
    backup.add_argument("--change-ids", metavar="FILE", help="JSON {source: RCT_ID} to record in the restore point")
    backup.add_argument("--slots", type=int, help=f"VMs of a --job stored at once (default {DataMoverOptions.slots})")
    backup.add_argument("--workers", type=int, help="worker threads (default: one per core)")
    backup.add_argument("--dry-run", action="store_true", help="estimate only; write nothing")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hyperv-datamover",
        allow_abbrev=False,
        description="Deduplicating, compressing, verifiable backup of Hyper-V VM disks (the backup.hyperv data mover).",
    )
    sub = parser.add_subparsers(dest="operation", required=True, metavar="OPERATION")
    _add_operations(sub, _common_options())
    text = "run the operation an options document describes; print its JSON result (what a Windows proxy runs)"
    run = sub.add_parser("run", help=text, description=text, allow_abbrev=False)
    document = run.add_mutually_exclusive_group(required=True)  # options_document.py
    document.add_argument("--options", metavar="FILE", help=f"the options document, {STDIN!r} for stdin")
    document.add_argument("--options-file", metavar="FILE", help="the options document in a file, deleted once read")
    run.add_argument("--progress", action="store_true", help="draw progress on stderr (a scheduled task follows it)")
    run.set_defaults(json=True, progress=False)
    add_serve_command(sub)
    return parser


def _load_json_option(path: Optional[str], what: str) -> Optional[Dict[str, Any]]:
    """The JSON in ``path`` (checked by the options object, as the module's option would be)."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise DataMoverError(f"cannot read {what} from {path}: {exc}") from exc


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
    stdin: Optional[TextIO] = None,
) -> int:
    """Run the command line; returns the exit status (0 ok, 1 error, 2 usage, 3 verify found damage, 130 ^C)."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    keep_freed_buffers()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.operation == "serve":  # its jobs are run by this function, one after another (server.py)
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return serve_command(args, lambda job, out, err: main(job, environ, out, err), stderr)
    _take_late_positionals(parser, args, extra)
    _check_job_or_single(parser, args)
    show_progress = args.progress if args.progress is not None else stderr.isatty()
    progress_bar = ProgressBar(stderr) if show_progress else None
    try:
        options = _options(args, os.environ if environ is None else environ, stdin or sys.stdin)
        derive_ahead(os.path.join(options.access.path, KEY_FILE), options.access.passphrase)
        # imported only now, so that loading the engine overlaps with the key derivation just started
        from ansible_collections.backup.hyperv.plugins.module_utils.datamover.operations import run

        result = run(options, progress_bar)
    except DataMoverError as err:
        stderr.write(f"{'' if progress_bar is None else chr(10)}hyperv-datamover: error: {err}\n")
        return 1
    except KeyboardInterrupt:  # the engine has already discarded the unfinished restore point
        stderr.write("\nhyperv-datamover: interrupted\n")
        return 130
    if progress_bar is not None:
        progress_bar.finish()
    human = entry_lines(result) if any(key in result for key in LISTED) else _summary(result)
    text = json.dumps(result, indent=2, sort_keys=True, default=str) if args.json else "\n".join(human)
    stdout.write(text + "\n")
    if result.get("failed_vms"):  # a job with failed VMs: the others are done, the status says not all
        stderr.write(f"hyperv-datamover: error: {options.operation} failed for VM {', '.join(result['failed_vms'])}\n")
        return 1
    return EXIT_DAMAGE if damage_found(options.operation, result, options.access.path) else 0


def _options(args: argparse.Namespace, environ: Mapping[str, str], stdin: TextIO) -> DataMoverOptions:
    """The run's options: from the options document (``run``), else from the arguments and the files they name."""
    if args.operation == "run":
        document = read_document(args.options, stdin) if args.options else take_document(args.options_file)
        return DataMoverOptions.from_json(document)
    passphrase = read_passphrase(args.passphrase_file, environ)
    ranges = _load_json_option(getattr(args, "changed_ranges", None), "changed ranges")
    change_ids = _load_json_option(getattr(args, "change_ids", None), "change ids")
    jobs = load_job_file(args.job) if getattr(args, "job", None) else None
    return DataMoverOptions.from_args(args, passphrase, ranges, jobs, change_ids)


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
