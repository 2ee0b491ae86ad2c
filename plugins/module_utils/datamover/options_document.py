"""Where ``hyperv-datamover run`` reads its options document: stdin (``--options -``), a file (``--options
FILE``), or a file it deletes once read (``--options-file FILE``).

``--options-file`` is what the scheduled task on a Windows proxy runs (``data_mover_start.ps1``): the document
may hold the passphrase, so the engine deletes it as soon as it has read it, before any repository is opened,
and it is on disk only between the task's start and the engine's first steps, in a job folder only
LocalSystem and Administrators may open.
"""

from __future__ import annotations

import os
from typing import TextIO

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError

STDIN = "-"


def read_document(path: str, stdin: TextIO) -> str:
    """The document in ``path``, or on ``stdin`` for ``-``."""
    return stdin.read() if path == STDIN else _read_file(path)


def _read_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise DataMoverError(f"cannot read the options document {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise DataMoverError(f"cannot read the options document {path}: not UTF-8 ({exc.reason})") from exc


def take_document(path: str) -> str:
    """The document in ``path``, which is deleted once read (also when it cannot be read whole)."""
    try:
        return _read_file(path)
    finally:
        try:
            os.remove(path)
        except OSError as exc:  # the passphrase would stay on disk: the run must not go on
            if os.path.exists(path):
                raise DataMoverError(f"cannot delete the options document {path}: {exc.strerror}") from exc
