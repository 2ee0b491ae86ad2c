"""The data mover's ``shadow_copy`` option on a Windows proxy: the volume group's set imported before the job and
released after it, in the job's own task.

Why in the job's task: a task costs the controller a worker process, the templating of its arguments and a new
WinRM shell on the proxy (six HTTP requests before its first command), and a backup run pays that per volume group
for each task of the group. The import, the job and the release are three round trips on the proxy either way; as
one task they cost one shell and one worker (docs/backup.md, "The job at estate scale: measured").

The order and the guarantees are those of the tasks it replaces (``shadow_copy state=imported``, the job,
``shadow_copy state=absent``): nothing is imported before the job's options were checked; the release runs after
the job whatever the job did, and after an import that failed (it may have imported part of the set: the release
skips what is not there); a release that fails fails the task, with the job's results kept, so that the playbook's
``rescue`` releases again (``playbooks/tasks/backup_group.yml``). Check mode plans the import and runs no job: the
set's copies are not exposed, so there is nothing a job could read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.shadow_copy_options import DEFAULT_ROOT
from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy import (
    ShadowCopyError,
    check_folders,
    normal_guid,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy_shares import is_share

NOT_ON_THIS_CONNECTION = (
    "shadow_copy imports a transportable shadow copy set, which only a Windows proxy reached over winrm or psrp "
    "can do; leave it out here (import the set with backup.hyperv.shadow_copy state=imported on the proxy), or "
    "delegate the task to the proxy"
)
CHECK_MODE_MSG = "check mode: the shadow copy set would be imported and the job run on it, then the set released"


def checked_set(operation: str, shadow: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The ``shadow_copy`` option, its set id as VSS prints it (``{guid}``), or None when not given; raises
    ShadowCopyError or WindowsPathError, before any round trip, for what the import or the job could not use."""
    if not shadow:
        return None
    if operation != "backup":
        raise ShadowCopyError(f"shadow_copy is for operation=backup, which reads the set's copies (got {operation})")
    shares = [str(copy["volume"]) for copy in shadow["shadow_copies"] if is_share(str(copy.get("volume") or ""))]
    if shares:
        raise ShadowCopyError(
            f"shadow_copy names copies of SMB3 shares ({', '.join(shares)}): the proxy reads a share's shadow copy "
            "where its file server exposes it, there is nothing to import; leave shadow_copy out"
        )
    if not shadow["shadow_copies"]:
        raise ShadowCopyError("shadow_copy.shadow_copies is empty: a set to import has at least one shadow copy")
    # The proxy keeps no metadata file (the import writes it to a temporary folder): the release looks in the default
    # place, as the shadow_copy task that released on the proxy did, and skips what is not there.
    checked = {**shadow, "metadata_dir": DEFAULT_ROOT}
    check_folders(checked)
    for index, copy in enumerate(shadow["shadow_copies"]):
        normal_guid(copy["shadow_id"], f"shadow_copy.shadow_copies[{index}].shadow_id")
    return {**checked, "snapshot_set_id": normal_guid(shadow["snapshot_set_id"], "shadow_copy.snapshot_set_id")}


def check_mode_outcome() -> dict[str, Any]:
    """A check run's job with a set to import: the import was planned, no job ran (nothing is exposed to read)."""
    return {"changed": True, "msg": CHECK_MODE_MSG}


def import_failure(error: Mapping[str, Any], set_id: str) -> dict[str, Any]:
    """The task's outcome when the import failed (``error``: the failed round trip's result): no job ran."""
    msg = f"importing shadow copy set {set_id} on the proxy failed, so no job ran: {error.get('msg') or 'failed'}"
    return {**error, "failed": True, "changed": False, "msg": msg}


def unexpected_reply(script: str, error: Exception) -> str:
    """Why a round trip whose reply lacks what its script always returns failed (a script from another version)."""
    return f"{script}.ps1 replied in an unexpected shape ({error!r})"


def release_failure(outcome: Mapping[str, Any], set_id: str, error: Mapping[str, Any]) -> dict[str, Any]:
    """The job's outcome, failed, when the set could not be released after it: the job's results stay (a stored VM
    is stored), and the message says what is left on the proxy and how to remove it."""
    before = str(outcome.get("msg") or "").rstrip(". ")
    msg = (
        f"shadow copy set {set_id} could not be released on the proxy after the job: {error.get('msg') or 'failed'}. "
        f"Release it with backup.hyperv.shadow_copy state=absent snapshot_set_id={set_id} on the proxy "
        "(what it imported holds the source LUN's hardware snapshot)."
    )
    return {**outcome, "failed": True, "msg": f"{before}; {msg}" if before else msg}


def shadow_copy_result(
    set_id: str, imported: Mapping[str, Any] | None, released: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The ``shadow_copy`` key of the task's result: the set, whether the import and the release changed anything,
    where the copies were exposed, and whether the set is released (``released``: None when no release ran, in
    check mode; its result, with ``failed``, when it failed)."""
    result: dict[str, Any] = {
        "snapshot_set_id": set_id,
        "imported": bool(imported and imported.get("changed")),
        "exposed_path": (imported or {}).get("exposed_path"),
        "released": released is not None and not released.get("failed"),
    }
    if released is not None and not released.get("failed"):
        result["release"] = released.get("released") or {}
    return result
