# Documentation only: the action plugin plugins/action/group_snapshot.py is the implementation.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: group_snapshot
short_description: One volume group's checkpoints, shadow copy set and reference points on its Hyper-V host
version_added: 0.1.0
author:
  - backup.hyperv developers (@backup-hyperv)
description:
  - Runs the source host's steps of one volume group of the backup job (C(playbooks/tasks/backup_group.yml)) in one
    task, the steps M(backup.hyperv.change_tracking) and M(backup.hyperv.shadow_copy) take one task each, with the
    same checks, the same scripts and the same results. Bad input fails the task before anything is sent.
  - O(state=present) takes a recovery checkpoint of each VM in O(vms) and reads the byte ranges changed since the
    RCT ids in O(since) (as O(backup.hyperv.change_tracking#module:state=checkpoint)), creates one shadow copy set
    of the volumes or SMB3 shares holding the files of the VMs whose checkpoint succeeded (as
    O(backup.hyperv.shadow_copy#module:state=present), refusing VHD Set disks (R15) and unknown VMs before anything
    is created), then converts the checkpoints into reference points (as
    O(backup.hyperv.change_tracking#module:state=reference)). Two round trips, each a batch of two scripts run in
    order in one PowerShell process; the conversion runs only once the set exists.
  - O(state=absent) releases the checkpoints and reference points named in O(release) (as
    O(backup.hyperv.change_tracking#module:state=absent)) and the shadow copy set O(snapshot_set_id) with its
    metadata on this host (as O(backup.hyperv.shadow_copy#module:state=absent)), in one round trip; each release
    is tried whatever the other did. Nothing named is no round trip and no change.
  - A step that fails fails the task; the result still holds what the steps before it did (RV(checkpoint),
    RV(shadow)), so a release in the C(always) section of a C(block) can undo them.
options:
  state:
    description: V(present) checkpoints, shadows and converts; V(absent) releases.
    type: str
    choices: [present, absent]
    default: present
  vms:
    description:
      - The group's VMs, as Hyper-V lists them (case-blind, each once). Required with O(state=present).
    type: list
    elements: str
  since:
    description:
      - With O(state=present), per VM, the RCT id the repository recorded for each disk, by file name; as O(since)
        of M(backup.hyperv.change_tracking).
    type: dict
  crash_consistent_fallback:
    description:
      - With O(state=present), a VM whose application-consistent checkpoint fails gets a crash-consistent one
        (V(true)) or fails (V(false)); as O(crash_consistent_fallback) of M(backup.hyperv.change_tracking).
    type: bool
    default: true
  release:
    description:
      - With O(state=absent), per VM, the C(checkpoint), C(keep) and C(drop) to release; as O(release) of
        M(backup.hyperv.change_tracking). Empty or omitted releases no checkpoint.
    type: dict
  snapshot_set_id:
    description:
      - With O(state=absent), the shadow copy set to release, as RV(shadow.snapshot_set_id) returned it. Omitted,
        no set is released.
    type: str
  shadow_copies:
    description:
      - With O(state=absent), the set's copies as RV(shadow.shadow_copies) returned them; with them the release
        needs no read first (except for copies on an SMB3 share, released through the file server).
    type: list
    elements: dict
    suboptions:
      shadow_id:
        description: The copy's id.
        type: str
        required: true
      alias:
        description: Its alias in the set.
        type: str
        required: true
      volume:
        description: The volume or share it copies.
        type: str
      exposed_path:
        description: Where the proxy reads it.
        type: str
  metadata_dir:
    description: Folder on the host for the set's metadata; as O(backup.hyperv.shadow_copy#module:metadata_dir).
    type: str
    default: C:\ProgramData\backup.hyperv\shadow
  expose_root:
    description: Folder the proxy exposes the set under; as O(backup.hyperv.shadow_copy#module:expose_root).
    type: str
    default: C:\ProgramData\backup.hyperv\shadow
extends_documentation_fragment:
  - backup.hyperv.probe
  - backup.hyperv.vss_creation
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - O(state=present) sends only the read of the VMs' files and volumes, and returns the checkpoints and the set
        as the two modules' check modes do (no ids); O(state=absent) reads what is left of the set and releases
        nothing.
  diff_mode:
    support: none
  platform:
    platforms: windows
notes:
  - The shared probe options O(probe_timeout) and O(components) are accepted for C(module_defaults) of the
    C(backup.hyperv.probe) group and not used here.
  - The connection is not retried once a batch that creates something was sent (a second recovery checkpoint or
    set would be left behind); the release batch is, since it skips what is gone.
seealso:
  - module: backup.hyperv.change_tracking
  - module: backup.hyperv.shadow_copy
  - module: backup.hyperv.data_mover
  - name: Msvm_VirtualSystemSnapshotService class
    description: CreateSnapshot, ConvertToReferencePoint and DestroySnapshot.
    link: https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-virtualsystemsnapshotservice
  - name: Shadow copy creation details
    description: How a requester creates a shadow copy set.
    link: https://learn.microsoft.com/windows/win32/vss/shadow-copy-creation-details
"""

EXAMPLES = r"""
- name: Snapshot the group on its host
  backup.hyperv.group_snapshot:
    vms: [web01, sql01]
    since:
      web01: {web01.vhdx: "rct:6b0d3c1e:41"}
  delegate_to: hv1
  register: snapshot

- name: Release it once the proxy has read it (web01 stored, sql01 not)
  backup.hyperv.group_snapshot:
    state: absent
    release:
      web01: {keep: "{{ snapshot.reference.vms.web01.reference_point }}"}
      sql01: {drop: "{{ snapshot.reference.vms.sql01.reference_point }}"}
    snapshot_set_id: "{{ snapshot.shadow.snapshot_set_id }}"
    shadow_copies: "{{ snapshot.shadow.shadow_copies }}"
  delegate_to: hv1
"""

RETURN = r"""
checkpoint:
  description: The checkpoint step's result, as M(backup.hyperv.change_tracking) returns it for V(checkpoint).
  returned: with O(state=present), once the checkpoints were taken
  type: dict
shadow:
  description:
    - The set's result, as M(backup.hyperv.shadow_copy) returns it for V(present).
    - Absent when no VM's checkpoint succeeded or every VM was refused (RV(refused)).
  returned: with O(state=present), once the set was created
  type: dict
  contains:
    snapshot_set_id:
      description: The set's id (V(null) in check mode), for the import on the proxy and for O(snapshot_set_id).
      type: str
    shadow_copies:
      description: The set's copies (C(shadow_id), C(alias), C(volume), C(exposed_path)), for O(shadow_copies).
      type: list
      elements: dict
    import_required:
      description: Whether the proxy imports the set (false for shadow copy shares of SMB3 shares, read directly).
      type: bool
    vm_files:
      description: Per VM, each file with its path on the proxy, for the data mover.
      type: dict
    metadata:
      description: The set's metadata (base64), for the import on the proxy.
      type: str
refused:
  description:
    - With O(state=present), the VMs left out of the shadow copy set, each with why (a VM the host no longer has,
      moved since the plan; VHD Set disks, R15; files the account cannot read; files, or a differencing chain, on
      both an SMB3 share and a volume). Each fails alone (its checkpoint, taken already, is destroyed by the
      release); the others are shadowed.
    - Also a VM with a file on a volume no VSS provider of the host supports in a transportable set (a disk of the
      host itself, such as C(C:\) holding its configuration); the create script takes the set again without that
      volume, in the same round trip, and names it (VSS_E_VOLUME_NOT_SUPPORTED). Its checkpoint was converted with
      the others, so the release drops its reference point. When every volume of the group is such a disk, the
      create fails naming them.
  returned: when a VM was left out
  type: dict
  sample: {vm7: "no VM named vm7 on this host (Get-VM)"}
reference:
  description: The conversion's result, as M(backup.hyperv.change_tracking) returns it for V(reference).
  returned: with O(state=present), when checkpoints were converted
  type: dict
change_tracking:
  description: The release of O(release), as M(backup.hyperv.change_tracking) returns it for V(absent).
  returned: with O(state=absent) and a non-empty O(release)
  type: dict
shadow_copy:
  description: The release of O(snapshot_set_id), as M(backup.hyperv.shadow_copy) returns it for V(absent).
  returned: with O(state=absent) and O(snapshot_set_id)
  type: dict
msg:
  description: Why the task failed, naming the step's script (C(<script>.ps1)) and what the host said.
  returned: failure
  type: str
rc:
  description: Exit code of the script that failed (its reply in a batch), or of a batch that did not reply as one.
  returned: failure of a script
  type: int
stdout:
  description: What the failed script (or batch) printed.
  returned: failure of a script
  type: str
stderr:
  description: Error output of the failed round trip, CLIXML decoded to text.
  returned: failure of a script
  type: str
connection_retries:
  description:
    - Round trips to the Windows host that lost their connection and were tried again (docs/backup.md,
      "When the connection drops"), each with C(script) (a batch is its scripts' names joined with C(+)),
      C(error), C(attempt) and C(stage) (connect or run).
  returned: when a connection was retried
  type: list
  elements: dict
"""
