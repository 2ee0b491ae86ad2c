# Documentation only: the action plugin plugins/action/shadow_copy.py is the implementation.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: shadow_copy
short_description: Create, import and release transportable VSS shadow copies of Hyper-V VM volumes
version_added: 0.1.0
author:
  - backup.hyperv developers (@backup-hyperv)
description:
  - Drives the off-host backup flow of VSS transportable shadow copies with C(diskshadow), in three steps that
    run on two hosts. The module talks only to the task's host, so each step is its own task.
  - O(state=present), on the source Hyper-V host (delegate the task to it). Reads the files of the VMs named in
    O(vms) (virtual disks with each differencing disk's parent chain from C(Get-VHD) C(ParentPath); the
    configuration, runtime and guest state files of the VM and of its checkpoints, C(.xml), C(.bin) and C(.vsv) for
    configuration version 5) and the host's volumes, refuses VMs with VHD Set disks (C(.vhds), requirement R15),
    VMs with a file the account cannot read (access denied, or no configuration file), and unknown VMs before
    anything is created (the volumes of a differencing disk's parents are shadowed with its own), then runs a
    DiskShadow script with C(set context persistent), C(set option transportable), C(set metadata),
    C(writer verify) for the Hyper-V VSS writer, C(begin backup), C(add volume) for each volume holding VM
    files, C(create) and C(end backup). The snapshot set's metadata C(.cab) is saved under O(metadata_dir) as
    C(<set id>.cab) and returned base64-encoded in RV(metadata). Creating is an event, so this always reports
    a change.
  - O(state=imported), on the proxy. Writes O(metadata) to a temporary file and runs C(load metadata), C(import)
    and C(expose) for each shadow copy, at C(<expose_root>\<set id>\<alias>). A set already imported and
    exposed there is left as it is (one round trip, no change).
  - O(state=absent), on either host. Looks the set (O(snapshot_set_id)) or one shadow copy (O(shadow_id)) up in
    C(Win32_ShadowCopy), runs C(unexpose) and C(delete shadows id) for what it finds, and removes the set's
    metadata file and mount folders. What is already gone is not an error; nothing left means no change. The
    release script looks again right before DiskShadow runs (DiskShadow stops a script at its first failing
    command), and checks afterwards that C(Win32_ShadowCopy) no longer lists what it deleted.
  - VM files on SMB3 shares (C(\\server\share\...)) use VSS for SMB File Shares (Windows Server 2012 and later)
    instead. O(state=present) adds each share root to the same DiskShadow script (C(add volume \\fs1\vms\)),
    without C(set option transportable); the host's File Share Shadow Copy Provider asks the File Server VSS Agent
    Service on the file server to shadow the volume behind the share, and the file server exposes the copy as a
    shadow copy share (C(\\server\share@{GUID}), named by the file server and taken from DiskShadow's
    C(Shadow copy device name)) until the set is deleted. RV(vm_files) then point into that
    share, RV(import_required) is V(false) and there is nothing to import or release on the proxy, which reads the
    share directly (its computer account needs read access, requirements R12 to R14). The copies are recorded in
    C(<metadata_dir>\<set id>.shares.json) on the source host, which O(state=absent) there deletes with the set.
    A VM with files both on shares and on local or cluster shared volumes is refused before anything is created.
  - A transportable shadow copy needs a VSS hardware provider on both hosts (requirement R11, see
    M(backup.hyperv.vss_provider)); the proxy must see the storage LUNs (R9). A volume no provider of the source
    host supports in a transportable set (a disk of the host itself, such as C(C:\) when a VM's configuration is
    in Hyper-V's default VM path) fails O(state=present) naming it (C(add volume) fails with
    VSS_E_VOLUME_NOT_SUPPORTED) and nothing is created; M(backup.hyperv.group_snapshot) leaves such a volume's VMs
    out of its set instead.
  - RV(vm_files) maps every VM file to its path inside the exposed shadow copy on the proxy, computed from
    O(expose_root), the set id and the alias of the volume holding the file; pass the same O(expose_root) to
    both the V(present) and the V(imported) task.
options:
  state:
    description: V(present) creates a set on the source host, V(imported) imports and exposes it on the proxy,
      V(absent) releases it.
    type: str
    choices: [present, imported, absent]
    default: present
  vms:
    description: Names of the VMs (as C(Get-VM) lists them) whose volumes to shadow. Required with O(state=present).
    type: list
    elements: str
  snapshot_set_id:
    description:
      - Id of the snapshot set, as RV(snapshot_set_id) returned it. Required with O(state=imported);
        with O(state=absent), releases the whole set.
    type: str
  shadow_id:
    description: With O(state=absent), release only this shadow copy (mutually exclusive with O(snapshot_set_id)).
    type: str
  metadata:
    description: The set's metadata C(.cab), base64-encoded, as RV(metadata) returned it. Required with
      O(state=imported).
    type: str
  shadow_copies:
    description:
      - The shadow copies of the set, as RV(shadow_copies) returned them. Required with O(state=imported).
      - With O(state=absent) and O(snapshot_set_id), the release is one round trip instead of a read and a release;
        the release script looks up each copy, mount folder and metadata file itself and reports only what it
        removed, so C(changed) stays exact. Check mode, and a set of SMB3 share copies, still read first.
    type: list
    elements: dict
    suboptions:
      shadow_id: {description: Shadow copy id., type: str, required: true}
      alias:
        description: DiskShadow alias (C(Vol1), C(Vol2), ...); names the mount folder.
        type: str
        required: true
      volume: {description: Source volume (a share root for a copy of an SMB3 share)., type: str}
      exposed_path:
        description: Where the set was planned to be exposed; informational (recomputed from O(expose_root)).
        type: str
  metadata_dir:
    description:
      - Folder on the source host where the metadata C(.cab) is kept (and removed by O(state=absent)).
      - Written with backslashes (C(/) is refused), like O(expose_root).
    type: str
    default: C:\ProgramData\backup.hyperv\shadow
  expose_root:
    description:
      - Folder on the proxy under which sets are exposed, one subfolder per set and alias.
      - Written with backslashes; C(/) is refused, because the module compares the folders it exposes with
        those Windows reports, which always use C(\).
    type: str
    default: C:\ProgramData\backup.hyperv\shadow
extends_documentation_fragment:
  - backup.hyperv.probe
  - backup.hyperv.vss_creation
  - ansible.builtin.action_common_attributes
  - backup.hyperv.windows_path
attributes:
  check_mode:
    support: full
    details:
      - Reads the host and reports what would happen; creates, imports and releases nothing.
      - With O(state=present), the ids and proxy paths are V(null) in check mode (VSS assigns them on creation),
        and the VHD Set refusal (R15) is reported as in a real run.
  diff_mode:
    support: none
  platform:
    platforms: windows
notes:
  - The shared probe options O(probe_timeout) and O(components) are accepted for C(module_defaults) of the
    C(backup.hyperv.probe) group and not used here.
  - Release the set on the proxy (where it is imported) and on the source host (which keeps the metadata file);
    put both in the C(always) section of a C(block) so a failed backup does not leave a shadow copy behind.
seealso:
  - module: backup.hyperv.vss_provider
  - module: backup.hyperv.data_mover
  - name: Transportable shadow copies
    description: How VSS moves a shadow copy to another host.
    link: https://learn.microsoft.com/windows/win32/vss/transportable-shadow-copies
  - name: diskshadow
    description: The commands the scripts run.
    link: https://learn.microsoft.com/windows-server/administration/windows-commands/diskshadow
"""

EXAMPLES = r"""
- name: Shadow the volumes of web01 on its Hyper-V host
  backup.hyperv.shadow_copy:
    vms: [web01]
  delegate_to: hv1
  register: shadow

- name: Import and expose the set on the proxy
  backup.hyperv.shadow_copy:
    state: imported
    snapshot_set_id: "{{ shadow.snapshot_set_id }}"
    metadata: "{{ shadow.metadata }}"
    shadow_copies: "{{ shadow.shadow_copies }}"

- name: Release it on the proxy, then the metadata on the host
  backup.hyperv.shadow_copy:
    state: absent
    snapshot_set_id: "{{ shadow.snapshot_set_id }}"
  delegate_to: "{{ item }}"
  loop: [px1, hv1]
"""

RETURN = r"""
snapshot_set_id:
  description: Id of the snapshot set, C({guid}) in lower case. V(null) after a check-mode V(present).
  returned: success
  type: str
  sample: "{1f0e8d2a-7c41-4b3e-9a55-0d6c2e9b1a77}"
shadow_id:
  description: Id of the first shadow copy of the set (the only one when the VMs' files are on one volume).
  returned: when O(state) is V(present), or V(absent) by O(shadow_id)
  type: str
  sample: "{6b0d3c1e-2a4f-4d8b-8e1f-3c5a7b9d0e21}"
shadow_copies:
  description: The shadow copies of the set, one per volume.
  returned: when O(state) is V(present) or V(imported)
  type: list
  elements: dict
  contains:
    shadow_id: {description: Shadow copy id (V(null) in check mode)., type: str}
    alias: {description: DiskShadow alias., type: str, sample: Vol1}
    volume: {description: Source volume mount point (V(present) only)., type: str, sample: 'C:\ClusterStorage\Volume1\'}
    exposed_path: {description: Where the proxy exposes it (the shadow copy share for an SMB3 share)., type: str}
exposed_path:
  description: Folder on the proxy holding the set's exposed shadow copies (V(null) in check mode and for SMB3 shares).
  returned: when O(state) is V(present) or V(imported)
  type: str
  sample: 'C:\ProgramData\backup.hyperv\shadow\1f0e8d2a-7c41-4b3e-9a55-0d6c2e9b1a77'
import_required:
  description: Whether the set must be imported on the proxy (V(false) for a set of SMB3 shares).
  returned: when O(state=present)
  type: bool
shadow_copy_shares:
  description:
    - Per SMB3 share root, its shadow copy share on the file server (V(null) in check mode).
    - Empty for local and cluster shared volumes.
  returned: when O(state=present)
  type: dict
  sample: {'\\fs1\vms\': '\\fs1\vms@{3b0d5f72-9e4c-4a81-b2d6-7f3c0e1a5b94}'}
vm_files:
  description:
    - Per VM, each source file, its C(volume) (the mount point or SMB3 share root it is on) and its path inside the
      exposed shadow copy on the proxy (V(null) in check mode).
    - C(parents) lists a differencing disk's parent chain (nearest first) the same way, empty for other files; a
      parent may be on another volume than its child (a golden image on another CSV), and the set then holds both.
      The data mover reads a differencing disk as the merged content of its chain. Give it the C(path) of each
      entry, and for a differencing disk the C(path) of each of its C(parents), nearest first (the data mover's
      O(backup.hyperv.data_mover#module:parents), or a job entry's C(parents)); without them it looks each parent
      up through the child's parent locator, which leads only within the same shadow copy.
  returned: when O(state=present)
  type: dict
  sample:
    web01:
      - source: 'C:\ClusterStorage\Volume1\web01\web01_3C2F.avhdx'
        volume: 'C:\ClusterStorage\Volume1\'
        path: 'C:\ProgramData\backup.hyperv\shadow\1f0e8d2a-7c41-4b3e-9a55-0d6c2e9b1a77\Vol1\web01\web01_3C2F.avhdx'
        parents:
          - source: 'C:\ClusterStorage\Volume1\web01\web01.vhdx'
            volume: 'C:\ClusterStorage\Volume1\'
            path: 'C:\ProgramData\backup.hyperv\shadow\1f0e8d2a-7c41-4b3e-9a55-0d6c2e9b1a77\Vol1\web01\web01.vhdx'
metadata:
  description: The set's metadata C(.cab), base64-encoded; pass it to the O(state=imported) task.
  returned: when O(state=present), outside check mode
  type: str
metadata_path:
  description: Where the metadata file is kept on the source host.
  returned: when O(state=present), outside check mode
  type: str
released:
  description: What O(state=absent) released (or in check mode would release); empty when nothing was left.
  returned: when O(state=absent)
  type: dict
  sample: {ExposedPaths: [], ShadowIds: ["{6b0d3c1e-2a4f-4d8b-8e1f-3c5a7b9d0e21}"], Files: [], Directories: []}
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
