"""The command line's file-level restore: ``ls``, ``find`` and ``restore-file`` (parsers and their output).

Each names a volume inside a restore point (``--vm`` for its latest one, or ``--restore-point``; ``--disk``
and ``--partition`` when there are several) and a guest path such as ``'\\Docs\\report.txt'`` (``/`` works
too). ``restore-file`` draws a progress bar on stderr when it is a terminal (``--progress`` to force it), and
writes a UNC destination through SMB (``--smb-username``, ``--smb-password-file``; guest/targets.py).
"""

from __future__ import annotations

import argparse
from typing import Any, Callable, List, Mapping

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.query import ROOT
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.progress import human_bytes

AddParser = Callable[..., argparse.ArgumentParser]
LISTED = ("entries", "matches")  # the result keys that are a listing of guest entries


def add_guest_operations(add: AddParser) -> None:
    """The three subcommands, each added by the command line's ``add`` (common options, repository)."""
    listing = add("ls", "list a folder of a guest volume in a restore point (sizes and times)")
    listing.add_argument("path", nargs="?", default=ROOT, help="guest folder or file (default: the root)")
    _volume_arguments(listing)
    search = add("find", "find files and folders of a guest volume whose name matches a glob (any case)")
    search.add_argument("pattern", help="glob such as '*.docx'; with a separator it matches the path below --path")
    search.add_argument("--path", default=ROOT, help="guest folder to search (default: the root)")
    _volume_arguments(search)
    extract = add("restore-file", "extract a guest file or folder (with all it holds) into a host folder")
    extract.set_defaults(operation="restore_file")
    extract.add_argument("path", help="guest file or folder, e.g. '\\Users\\ann\\Documents'")
    extract.add_argument("destination", help="host folder to write into (created if missing)")
    extract.add_argument("--overwrite", action="store_true", help="replace files that exist in the destination")
    extract.add_argument("--dry-run", action="store_true", help="show what would be written; write nothing")
    _smb_arguments(extract)
    _volume_arguments(extract)


def _smb_arguments(parser: argparse.ArgumentParser) -> None:
    """A UNC destination (\\\\server\\share\\folder) written through SMB; the password only from a file."""
    smb = "a UNC destination, written through SMB"
    parser.add_argument("--smb-username", help=f"user for {smb} (DOMAIN\\user or user@domain)")
    parser.add_argument(
        "--smb-password-file", dest="smb_password", type=_first_line, metavar="FILE", help="its password, first line"
    )
    parser.add_argument("--smb-port", type=int, help="SMB port of the server (default: 445)")


def _first_line(path: str) -> str:
    """A secret from the first line of a file (never from the command line, which other users can read)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.readline().rstrip("\r\n")
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {exc.strerror}") from exc


def _volume_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vm", help="the VM whose latest restore point is read")
    parser.add_argument("--restore-point", help="restore point id (default: the VM's latest)")
    parser.add_argument("--disk", help="disk file name in the restore point (default: its only disk)")
    parser.add_argument("--partition", type=int, help="partition number (default: the disk's only NTFS volume)")


def entry_lines(result: Mapping[str, Any]) -> List[str]:
    """``ls`` and ``find`` as a person reads them: modified time, size (or <DIR>), path; then the cost."""
    lines = []
    for key in LISTED:
        for entry in result.get(key) or ():
            size = "<DIR>" if entry["kind"] == "directory" else "<LINK>" if entry["kind"] == "link" else entry["size"]
            when = (entry["modified"] or "")[:19].replace("T", " ")
            lines.append(f"{when:19}  {size:>14}  {entry['path']}")
    stats = result.get("stats") or {}
    if stats:
        read = human_bytes(stats.get("bytes_read", 0))
        lines.append(f"read {read} from the repository ({stats.get('chunks_fetched', 0)} chunk(s))")
    return lines
