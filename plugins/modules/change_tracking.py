# Documentation only: the action plugin plugins/action/change_tracking.py is the implementation.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: change_tracking
short_description: Recovery checkpoints, reference points and changed ranges of Hyper-V resilient change tracking
version_added: 0.1.0
author:
  - backup.hyperv developers (@backup-hyperv)
description:
  - Drives Hyper-V resilient change tracking (RCT, Windows Server 2016 and later) through the Hyper-V WMI provider
    (C(root\virtualization\v2)) on the source Hyper-V host, for the backup job of M(backup.hyperv.shadow_copy) and
    M(backup.hyperv.data_mover). Each state is one round trip, after the input checks (bad input fails the task
    before anything is sent to the host).
  - O(state=checkpoint) creates a recovery checkpoint of each VM in O(vms)
    (C(Msvm_VirtualSystemSnapshotService.CreateSnapshot), snapshot type 32768), application consistent (the guest
    freezes its applications through its VSS) or, when the guest cannot, crash consistent (see
    O(crash_consistent_fallback)). The VM then
    writes into a new C(.avhdx) per disk; the files it used before are frozen and are the ones to back up
    (C(vms.<vm>.disks[].path)). For each disk with an RCT id in O(since), it returns the byte ranges changed since
    that id (C(Msvm_ImageManagementService.GetVirtualDiskChanges)), else the reason the disk must be read in full.
    A VM that holds a recovery checkpoint already (another backup application's, or one a run left when its reply
    was lost) gets none; it fails alone, naming that checkpoint and how to remove it, rather than have Hyper-V stack
    a second one on it.
  - O(state=reference) converts each recovery checkpoint of O(checkpoints) into a reference point
    (C(ConvertToReferencePoint); the checkpoint's C(.avhdx) files are merged back) and returns the new RCT id of each
    disk, to be recorded with the restore point.
  - O(state=absent) releases what O(release) names, skipping what is already gone, so that a second release does
    nothing.
  - RCT needs a VHDX disk and a VM of configuration version 6.2 or later (C(Update-VMVersion) upgrades a VM); a VM
    of an older version gets no checkpoint and each of its disks a reason.
  - A VM's own failure (not found, a checkpoint refused or gone) is in its entry (RV(vms.failed), RV(vms.msg)); the
    task fails only when the script fails (bad input, no Hyper-V).
options:
  state:
    description: V(checkpoint) creates recovery checkpoints and reads the changed ranges, V(reference) converts them
      into reference points, V(absent) releases checkpoints and reference points.
    type: str
    choices: [checkpoint, reference, absent]
    default: checkpoint
  vms:
    description:
      - Names of the VMs to checkpoint, as Hyper-V lists them (case-blind, each once). Required with
        O(state=checkpoint), refused with the other states.
    type: list
    elements: str
  since:
    description:
      - With O(state=checkpoint), per VM of O(vms), the RCT id the repository recorded for each disk, by the disk's
        file name (case-blind).
      - A disk without an id here is read in full (C(vms.<vm>.disks[].reason) says why). RCT ids are opaque
        strings, passed back as RV(vms.change_ids) of O(state=reference) returned them.
    type: dict
  crash_consistent_fallback:
    description:
      - With O(state=checkpoint), what to do for a VM whose application-consistent checkpoint fails (a guest without
        the backup integration service or with a VSS writer that times out, C(ConsistencyLevel) 1 of
        C(Msvm_VirtualSystemSnapshotSettingData)).
      - V(true) takes a crash-consistent one instead (C(ConsistencyLevel) 2, the disks as a power cut would leave
        them; the VM's applications recover as after one) and says so in RV(vms.consistency) and
        RV(vms.consistency_msg).
      - V(false) fails that VM, for VMs whose backups must be application consistent.
      - Not used with the other states.
    type: bool
    default: true
  checkpoints:
    description:
      - With O(state=reference), per VM, the recovery checkpoint to convert, as RV(vms.checkpoint) of
        O(state=checkpoint) returned it. Required with O(state=reference), refused with the other states.
    type: dict
  release:
    description:
      - With O(state=absent), per VM, what to release, a mapping of C(checkpoint), C(keep) and C(drop), each an id
        or V(null).
      - C(checkpoint) a recovery checkpoint still there (never converted) is destroyed.
      - C(keep) every other RCT reference point of the VM is destroyed (after a stored backup, keep the new one).
      - C(drop) that reference point is destroyed (after a failed backup, the new one). C(keep) and C(drop) must differ.
      - Required with O(state=absent), refused with the other states.
    type: dict
extends_documentation_fragment:
  - backup.hyperv.probe
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Sends nothing to the host. O(state=checkpoint) returns each VM with RV(vms.checkpoint) V(null) and, per disk
        named in O(since), C(vms.<vm>.disks[].ranges) V(null) with the reason V(check mode); O(state=reference)
        returns no reference points. Both report a change, as a real run makes one.
      - O(state=absent) reports nothing released and no change, since it cannot know what is left without a read.
  diff_mode:
    support: none
  platform:
    platforms: windows
notes:
  - The shared probe options O(probe_timeout) and O(components) are accepted for C(module_defaults) of the
    C(backup.hyperv.probe) group and not used here.
  - Put the O(state=absent) task in the C(always) section of a C(block), so that a failed backup leaves no recovery
    checkpoint behind.
  - The connection is not retried once O(state=checkpoint) or O(state=reference) was sent (running either twice is
    not harmless); O(state=absent) is, since it skips what is gone.
seealso:
  - module: backup.hyperv.shadow_copy
  - module: backup.hyperv.data_mover
  - name: Msvm_VirtualSystemSnapshotService class
    description: CreateSnapshot, ConvertToReferencePoint and DestroySnapshot.
    link: https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-virtualsystemsnapshotservice
  - name: GetVirtualDiskChanges method of the Msvm_ImageManagementService class
    description: The changed ranges of a disk since an RCT id.
    link: https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-imagemanagementservice-getvirtualdiskchanges
  - name: Msvm_VirtualSystemReferencePoint class
    description: A reference point and the RCT id of each disk.
    link: https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-virtualsystemreferencepoint
"""

EXAMPLES = r"""
- name: Recovery checkpoints and the changes since the last backup
  backup.hyperv.change_tracking:
    vms: [web01, sql01]
    since:
      web01: {web01.vhdx: "rct:6b0d3c1e:41"}
  delegate_to: hv1
  register: checkpoint

- name: Turn them into reference points once the volumes are shadowed
  backup.hyperv.change_tracking:
    state: reference
    checkpoints:
      web01: "{{ checkpoint.vms.web01.checkpoint }}"
      sql01: "{{ checkpoint.vms.sql01.checkpoint }}"
  delegate_to: hv1
  register: reference

- name: After the backup was stored, keep only the new reference point
  backup.hyperv.change_tracking:
    state: absent
    release:
      web01: {keep: "{{ reference.vms.web01.reference_point }}"}
      sql01: {keep: "{{ reference.vms.sql01.reference_point }}"}
  delegate_to: hv1
"""

RETURN = r"""
vms:
  description:
    - With O(state=checkpoint) or O(state=reference), one entry per asked VM, by the name it was asked by.
  returned: when O(state) is V(checkpoint) or V(reference)
  type: dict
  contains:
    id:
      description: The VM's GUID in lower case (V(checkpoint); V(null) when the VM was not found and in check mode).
      type: str
    version:
      description: The VM's configuration version, C(Msvm_VirtualSystemSettingData.Version) (V(checkpoint)).
      type: str
      sample: "9.0"
    checkpoint:
      description:
        - The recovery checkpoint's id (an InstanceID), to pass to O(checkpoints) and to C(checkpoint) of O(release)
          (V(checkpoint)).
        - V(null) for a VM that got none (not found, version before 6.2, refused) and in check mode.
      type: str
    consistency:
      description:
        - V(application) or V(crash), how consistent the checkpoint's disks are (V(checkpoint)).
        - V(null) for a VM that got no checkpoint and in check mode.
      type: str
      sample: application
    consistency_msg:
      description: With V(crash), why the application-consistent checkpoint failed (V(checkpoint)); else V(null).
      type: str
    reference_point:
      description: The new reference point's id (V(reference)); V(null) when the VM failed.
      type: str
    failed:
      description: Whether this VM failed; the others are not affected.
      type: bool
    msg:
      description: Why this VM failed, else V(null).
      type: str
    change_ids:
      description:
        - The new RCT id of each disk by its file name (V(reference)); record them with the restore point.
        - A disk without one (not VHDX) is left out, so the next run reads it in full.
      type: dict
      sample: {web01.vhdx: "rct:6b0d3c1e:42"}
    disks:
      description:
        - V(checkpoint) each disk of the VM, C(path) the frozen file to back up (for a VM before version 6.2, its
          current file), C(name) its file name, C(size) its virtual size in bytes, C(since) the RCT id the ranges start
          at, C(ranges) the changed C([offset, length]) byte ranges ascending, or V(null) for a full read with
          C(reason) saying why.
        - V(reference) each disk with C(path), C(name) and C(change_id), its new RCT id.
      type: list
      elements: dict
      sample:
        - {path: 'C:\ClusterStorage\Volume1\web01\web01.vhdx', name: web01.vhdx, size: 34359738368,
           since: "rct:6b0d3c1e:41", ranges: [[0, 262144], [1048576, 524288]], reason: null}
released:
  description: Per VM of O(release), what this run destroyed (ids); empty lists when everything was already gone.
  returned: when O(state=absent)
  type: dict
  sample: {web01: {checkpoints: [], reference_points: ["Microsoft:5C3E2A1B-0F4D-4E6A-9B8C-7D1E2F3A4B5C"]}}
not_on_host:
  description:
    - The VMs of O(release) of which nothing was on this host, neither the VM nor what its entry names. A VM that
      live-migrated to another node of its cluster during the backup took its checkpoints and reference points
      with it; release them on the node it runs on now (the same task delegated there; elsewhere it does nothing).
  returned: when O(state=absent)
  type: list
  elements: str
rc:
  description: Exit code of the script that failed.
  returned: failure of a script
  type: int
stdout:
  description: What the failed script printed.
  returned: failure of a script
  type: str
stderr:
  description: Error output of the failed script, CLIXML decoded to text.
  returned: failure of a script
  type: str
connection_retries:
  description:
    - Round trips to the Windows host that lost their connection and were tried again (docs/backup.md,
      "When the connection drops"), each with C(script), C(error), C(attempt) and C(stage) (connect or run).
  returned: when a connection was retried
  type: list
  elements: dict
"""
