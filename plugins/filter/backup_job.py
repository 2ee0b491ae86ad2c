# Copyright: backup.hyperv developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn the results of one volume group's steps into the next step's input (playbooks/tasks/backup_group.yml).

The steps are ``change_tracking`` (checkpoint, reference, absent), ``shadow_copy`` and ``data_mover``; each filter
takes their registered results as they are (a skipped task has none of its keys) and decides one thing:

- ``backup_job_entries``: what the data mover reads for each VM. After a recovery checkpoint the VM runs on a new
  ``.avhdx`` layer; the checkpoint froze the files it used before, so those are what is read (the layer is left
  out), with the changed ranges per disk since the RCT id the repository recorded, and the new RCT ids to record.
- ``backup_proxy_shadow_copy``: the shadow copy set the data mover's task imports on the proxy and releases.
- ``backup_release``: what ``change_tracking state=absent`` destroys per VM (a checkpoint never converted; the
  other reference points once the VM is stored; the new reference point when it is not); ``backup_release_moved``
  and ``backup_release_left``: the same for a VM that live-migrated to another node during the backup, which the
  source host's release found nothing of.
- ``backup_vm_results``: one result per VM of the group for the report and the run's verdict.
"""

from __future__ import annotations

import ntpath
from collections.abc import Mapping, Sequence
from typing import Any, Optional

# human_bytes from the data mover's module, where the rule lives: the HTML report, which shows it too, imports the
# findings and the facts model, which every task templating these filters would then import in its worker process.
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.progress import human_bytes
from ansible_collections.backup.hyperv.plugins.plugin_utils.change_tracking import (
    checkpoints_to_convert,
    ready_vms,
    step_vms,
)


def _same_path(left: str, right: str) -> bool:
    return ntpath.normcase(str(left)) == ntpath.normcase(str(right))


def _read_chain(entry: Mapping[str, Any], frozen: Sequence[str]) -> list[Mapping[str, Any]]:
    """The files of a vm_files entry to read, nearest first: from the frozen disk behind it (the entry itself or one
    of its parents) down to its base; the entry's whole chain when nothing in it was frozen."""
    chain = [entry, *(entry.get("parents") or [])]
    for index, candidate in enumerate(chain):
        if any(_same_path(candidate.get("source", ""), path) for path in frozen):
            return chain[index:]
    return chain


def _sources(files: Sequence[Mapping[str, Any]], frozen: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """What to read: each disk as the checkpoint froze it, every other file of the VM as it is; and, by its path,
    the parents of each differencing disk read whose chain leaves its volume. On the proxy each volume's shadow
    copy is a folder of its own, so such a parent cannot be found from its child's parent locator: the data mover
    reads it where it is named. A chain on one volume is left to the locator (an engine from before ``parents``
    refuses the key)."""
    sources: list[str] = []
    parents: dict[str, list[str]] = {}
    for entry in files:
        chain = _read_chain(entry, frozen)
        path = str(chain[0]["path"])
        if path not in sources:
            sources.append(path)
            if {str(link.get("volume")).casefold() for link in chain} - {str(chain[0].get("volume")).casefold()}:
                parents[path] = [str(parent["path"]) for parent in chain[1:]]
    return sources, parents


def _changed_ranges(disks: Sequence[Mapping[str, Any]], audit: bool) -> dict[str, dict[str, Any]]:
    return {
        str(disk["name"]): {
            "since": disk.get("since"),
            "ranges": disk.get("ranges"),
            "reason": disk.get("reason"),
            "audit": bool(audit) and disk.get("ranges") is not None,
        }
        for disk in disks
    }


def backup_since(baselines: Any, vms: Sequence[str]) -> dict[str, dict[str, str]]:
    """``{vm: {disk file name: RCT id}}`` the repository's latest restore points recorded, for the checkpoint step."""
    points = baselines.get("baselines") if isinstance(baselines, Mapping) else None
    since: dict[str, dict[str, str]] = {}
    for vm in vms:
        disks = (points or {}).get(vm, {}).get("disks") or {}
        ids = {str(name): str(disk["change_id"]) for name, disk in disks.items() if disk.get("change_id")}
        if ids:
            since[vm] = ids
    return since


def backup_ready_vms(vms: Sequence[str], checkpoint: Any) -> list[str]:
    """The VMs of the group that go on after the checkpoint step (a VM that failed there fails alone)."""
    return ready_vms(vms, checkpoint)


def backup_checkpoints(checkpoint: Any) -> dict[str, str]:
    """``{vm: recovery checkpoint}`` for the VMs that got one, to convert into reference points."""
    return checkpoints_to_convert(checkpoint)


def backup_job_entries(
    vms: Sequence[str], checkpoint: Any, vm_files: Mapping[str, Any], reference: Any, audit: bool = False
) -> list:
    """The data mover job's entries, per VM that has files: ``{vm, sources, changed_ranges, change_ids}``, and
    ``parents`` when a differencing disk's chain leaves its volume; with ``audit``, disks with ranges are read in
    full and the ranges checked against the data (rct_audit)."""
    described, referenced = step_vms(checkpoint), step_vms(reference)
    entries = []
    for vm in vms:
        files = vm_files.get(vm) if isinstance(vm_files, Mapping) else None
        if vm not in described or described[vm].get("failed") or not files:
            continue
        disks = described[vm].get("disks") or []
        ids = referenced.get(vm, {}).get("change_ids") or {}
        sources, parents = _sources(files, [str(disk["path"]) for disk in disks])
        entry = {
            "vm": vm,
            "sources": sources,
            "changed_ranges": _changed_ranges(disks, audit),
            "change_ids": {str(name): str(value) for name, value in ids.items()},
        }
        entries.append({**entry, "parents": parents} if parents else entry)
    return entries


def _outcomes(mover: Any) -> dict[str, Mapping[str, Any]]:
    """Each VM's result in the data mover job's ``results``; empty when the job did not run."""
    results = mover.get("results") if isinstance(mover, Mapping) else None
    return {str(r["vm"]): r for r in results or [] if isinstance(r, Mapping)}


def _stored(mover: Any) -> dict[str, Mapping[str, Any]]:
    return {vm: result for vm, result in _outcomes(mover).items() if not result.get("failed")}


def backup_proxy_shadow_copy(shadow: Any, expose_root: Optional[str] = None) -> Optional[dict[str, Any]]:
    """The data mover's ``shadow_copy``: the group's set to import on the proxy before the job and release after it;
    None (the option left out) when there is no set or the proxy reads it where it is (SMB3 shares)."""
    if not isinstance(shadow, Mapping) or not shadow.get("snapshot_set_id") or not shadow.get("import_required", True):
        return None
    imported = {key: shadow[key] for key in ("snapshot_set_id", "metadata", "shadow_copies")}
    return {**imported, "expose_root": expose_root} if expose_root else imported


def backup_release(checkpoint: Any, reference: Any, mover: Any) -> dict[str, dict[str, Optional[str]]]:
    """Per VM, what ``change_tracking state=absent`` destroys; VMs with nothing to release are left out."""
    referenced, stored = step_vms(reference), _stored(mover)
    release = {}
    for vm, entry in step_vms(checkpoint).items():
        point = referenced.get(vm, {}).get("reference_point")
        item = {
            "checkpoint": None if point else entry.get("checkpoint"),  # converted: the checkpoint is gone
            "keep": point if point and vm in stored else None,
            "drop": point if point and vm not in stored else None,
        }
        if any(item.values()):
            release[vm] = item
    return release


def _not_on_host(result: Any) -> list[str]:
    """The VMs a release found nothing of on its host: a ``change_tracking`` result's, or a ``group_snapshot``
    release's (under ``change_tracking``); none when the release was not sent or failed."""
    if not isinstance(result, Mapping) or result.get("failed") or result.get("skipped"):
        return []
    tracking = result.get("change_tracking") if isinstance(result.get("change_tracking"), Mapping) else result
    return [str(vm) for vm in tracking.get("not_on_host") or []]


def backup_release_moved(release: Any, host_release: Any) -> dict[str, Any]:
    """The part of ``release`` for the VMs the source host's release found nothing of: moved to another node of
    the cluster during the backup (a live migration takes the VM's checkpoints and reference points along), so the
    same release is sent to the run's source hosts once the proxy's groups are done; where the VM is not, it does
    nothing."""
    moved = set(_not_on_host(host_release))
    return {vm: item for vm, item in release.items() if vm in moved} if isinstance(release, Mapping) else {}


def backup_release_left(moved: Any, released: Any) -> list[str]:
    """What the release of VMs that moved during the backup left behind: each VM of ``moved`` (their releases, by
    VM) that no source host of the run held (``released``: the looped release's registered result), in the run's
    words."""
    results = released.get("results") if isinstance(released, Mapping) else None
    answered = [result for result in results or [] if isinstance(result, Mapping) and "not_on_host" in result]
    found = {
        str(vm)
        for result in answered
        if not result.get("failed")
        for vm in result.get("released") or {}
        if vm not in result["not_on_host"]
    }
    return [
        f"{vm} was on none of the run's source hosts when its release ran (it moved during the backup to a host "
        "outside the run?): what it holds stays with it. Where it runs, remove its recovery checkpoint if one is "
        f"left (Get-VMSnapshot -VMName '{vm}' -SnapshotType Recovery | Remove-VMSnapshot); older reference points go "
        "with its next backup"
        for vm in (moved if isinstance(moved, Mapping) else {})
        if vm not in found
    ]


def _failure(
    described: Mapping[str, Any],
    refusal: Optional[str],
    outcome: Mapping[str, Any],
    group_msg: Optional[str],
    check_mode: bool,
) -> Optional[str]:
    """Why a VM was not stored: its checkpoint entry ``described``, the shadow copy's ``refusal`` of it alone and
    its data mover ``outcome`` (``{}`` for none) say it first, then the step that stopped the group; ``None`` when
    it was stored."""
    if described.get("failed"):
        return f"checkpoint: {described.get('msg') or 'failed'}"
    if refusal:
        return f"shadow copy: {refusal}"
    if outcome.get("failed"):
        return f"data mover: {outcome.get('msg') or 'failed'}"
    if outcome:
        return None
    if group_msg:
        return group_msg
    return None if check_mode else "not stored"  # check mode creates nothing, so the later steps skip


def backup_vm_results(
    vms: Sequence[str],
    host: str,
    proxy: str,
    checkpoint: Any,
    mover: Any,
    group_msg: Optional[str] = None,
    check_mode: bool = False,
    refused: Optional[Mapping[str, str]] = None,
) -> list[dict[str, Any]]:
    """One record per VM of the group: its restore point and figures, or why it failed (in check mode, a VM that
    nothing refused has no restore point and has not failed). ``refused``: group_snapshot's VMs left out of the
    shadow copy set, each with why."""
    described = step_vms(checkpoint)
    outcomes = _outcomes(mover)
    stored = {vm: outcome for vm, outcome in outcomes.items() if not outcome.get("failed")}
    refusals = refused if isinstance(refused, Mapping) else {}
    records = []
    for vm in vms:
        failure = _failure(described.get(vm, {}), refusals.get(vm), outcomes.get(vm, {}), group_msg, check_mode)
        record = _record(host, vm, proxy, failure)
        if failure is None:
            result, taken = stored.get(vm, {}), described.get(vm, {})
            record.update(
                restore_point=result.get("restore_point"),
                stats=result.get("stats") or {},
                incremental=result.get("incremental") or {},
            )
            # left out for a VM that took no checkpoint (before version 6.2) and in check mode
            record.update({key: taken[key] for key in ("consistency", "consistency_msg") if taken.get(key)})
        records.append(record)
    return records


def _record(host: str, vm: str, proxy: str, failure: Optional[str]) -> dict[str, Any]:
    """A VM's record as the report and the summary read it: stored, or failed with why."""
    record: dict[str, Any] = {"vm": f"{host}/{vm}", "proxy": proxy, "failed": failure is not None}
    if failure is not None:
        record["msg"] = failure
    return record


def backup_groups_failed(groups: Sequence[Mapping[str, Any]], proxy: str, msg: str) -> list[dict[str, Any]]:
    """One failed record per VM of the proxy's volume groups, none of which was tried: a step before them (reading
    the repository) failed with ``msg``."""
    return [_record(str(group["host"]), str(vm), proxy, msg) for group in groups for vm in group["vms"]]


def backup_rct_misses(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """``<vm> <disk>: <n> chunk(s)`` for every disk whose audit found changes RCT did not report."""
    misses = []
    for record in records:
        for disk, how in (record.get("incremental") or {}).items():
            missed = ((how or {}).get("rct_audit") or {}).get("chunks_missed", 0)
            if missed:
                misses.append(f"{record['vm']} {disk}: {missed} chunk(s)")
    return misses


def _incremental_disks(record: Mapping[str, Any]) -> int:
    disks = (record.get("incremental") or {}).values()
    return sum(1 for disk in disks if isinstance(disk, Mapping) and disk.get("mode") == "changed_ranges")


def backup_summary(records: Sequence[Mapping[str, Any]], snapshots: Any = 0) -> str:
    """One line for a proxy's run: VMs stored and failed, disks read by RCT ranges, bytes read and stored."""
    stored = [r for r in records if not r.get("failed")]
    read = sum(int((r.get("stats") or {}).get("bytes_read", 0)) for r in stored)
    kept = sum(int((r.get("stats") or {}).get("bytes_stored", 0)) for r in stored)
    crash = [r["vm"] for r in stored if r.get("consistency") == "crash"]
    return (
        f"{len(stored)} VM(s) stored, {len(records) - len(stored)} failed; "
        + (f"crash consistent (the guest could not quiesce): {', '.join(crash)}; " if crash else "")
        + f"{sum(_incremental_disks(r) for r in stored)} disk(s) read by RCT changed ranges; "
        f"read {human_bytes(read)}, stored {human_bytes(kept)}; {int(snapshots)} shadow copy set(s). Stored: "
        + (", ".join(f"{r['vm']} -> {r.get('restore_point') or 'check mode'}" for r in stored) or "nothing")
    )


class FilterModule:
    """Filters of one volume group's backup steps."""

    def filters(self) -> dict[str, Any]:
        return {
            "backup_since": backup_since,
            "backup_ready_vms": backup_ready_vms,
            "backup_checkpoints": backup_checkpoints,
            "backup_job_entries": backup_job_entries,
            "backup_proxy_shadow_copy": backup_proxy_shadow_copy,
            "backup_release": backup_release,
            "backup_release_moved": backup_release_moved,
            "backup_release_left": backup_release_left,
            "backup_vm_results": backup_vm_results,
            "backup_groups_failed": backup_groups_failed,
            "backup_summary": backup_summary,
            "backup_rct_misses": backup_rct_misses,
        }
