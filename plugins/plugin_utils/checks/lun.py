"""R9: the proxy sees, and can read, every SAN LUN behind the source CSVs.

A CSV's LUN is matched to a proxy disk by its SCSI page 83 identifier (Get-Disk ``UniqueId``)
first, then by serial number. A matched disk must have been readable by the probe (it opened
``\\\\.\\PhysicalDriveN`` and read the first sector); ``readable: null`` means it did not try.

A CSV is *unidentified* when no node reported a LUN with a page 83 id or serial number for it
(host_facts finds the CSV's disk by the disk resource's DiskIdGuid or DiskSignature in Get-Disk).
Nothing can then be matched on the proxy, so R9 is ``unknown`` for it, never ``pass``.
"""

from __future__ import annotations

from typing import Sequence

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.cluster import has_identifier, source_clusters
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.common import conclude, no_sources, not_applicable
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import Disk, HostFacts, LunId
from ansible_collections.backup.hyperv.plugins.plugin_utils.findings import Finding, requirement_check


def _norm(identifier: str | None) -> str:
    return "".join((identifier or "").split()).upper()


def match_disk(lun: LunId, disks: Sequence[Disk]) -> tuple[Disk | None, str]:
    """The proxy disk presenting ``lun`` and how it matched ('unique_id', 'serial_number' or '')."""
    for attribute in ("unique_id", "serial_number"):
        wanted = _norm(getattr(lun, attribute))
        if not wanted:
            continue
        for disk in disks:
            if _norm(getattr(disk, attribute)) == wanted:
                return disk, attribute
    return None, ""


def lun_label(lun: LunId) -> str:
    return lun.unique_id or lun.serial_number or "<no identifier>"


def _identify_remedy(unidentified: list[str]) -> str:
    return (
        f"For {', '.join(unidentified)}: on the cluster's nodes, find the CSV's disk (DiskIdGuid or DiskSignature "
        "of its disk resource, Get-ClusterParameter; Guid or Signature in Get-Disk) and check that Get-Disk reports "
        "its UniqueId or SerialNumber (the storage's SCSI page 83 id and serial); then re-run "
        "backup.hyperv.host_facts on the nodes."
    )


@requirement_check("R9")
def proxy_reads_csv_luns(proxy: HostFacts, sources: Sequence[HostFacts]) -> Finding:
    """R9: every LUN behind a source CSV is visible and readable on the proxy."""
    if not sources:
        return no_sources("R9")
    clusters, gaps = source_clusters(sources)
    volumes = [(cluster.name, volume) for cluster in clusters.values() for volume in cluster.shared_volumes]
    if not volumes and not gaps:
        return not_applicable("R9", "no source cluster has Cluster Shared Volumes")
    disks = proxy.section("disks")
    missing, unreadable, untested, unidentified, matched = [], [], [], [], {}
    for cluster_name, volume in volumes:
        luns = [lun for lun in volume.luns if has_identifier(lun)]
        if not luns:
            unidentified.append(f"{cluster_name} {volume.path}")
        for lun in luns:
            where = f"{lun_label(lun)} ({cluster_name} {volume.path})"
            disk, how = match_disk(lun, disks)
            if disk is None:
                missing.append(where)
                continue
            matched[where] = {"disk": disk.number, "matched_by": how, "readable": disk.readable}
            if disk.readable is False:
                unreadable.append(f"{where} as disk {disk.number}: {disk.read_error or 'cannot be read'}")
            elif disk.readable is None:
                untested.append(f"{proxy.name} did not test reading disk {disk.number} for {where}")
    problems = [f"{proxy.name} does not see LUN {', '.join(missing)}"] if missing else []
    problems += [f"{proxy.name} cannot read LUN {item}" for item in unreadable]
    not_identified = [f"the cluster nodes could not identify the LUN of {csv}" for csv in unidentified]
    return conclude(
        "R9",
        problems=problems,
        gaps=[*gaps.values(), *not_identified, *untested],
        passed=f"{proxy.name} sees and reads all {len(matched)} LUN(s) behind the source CSVs",
        evidence={"matched": matched, "missing": missing, "unreadable": unreadable, "unidentified": unidentified},
        remedy="Zone and mask the CSV LUNs to the proxy on the SAN (read access), and keep them offline "
        "but readable on the proxy; then re-run host_facts.",
        unknown_remedy=_identify_remedy(unidentified) if unidentified else None,
    )
