# Documentation only: the action plugin plugins/action/vm_restore.py is the implementation.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: vm_restore
short_description: Register a restored Hyper-V VM, in its original place or as a new VM
version_added: 0.1.0
author:
  - backup.hyperv developers (@backup-hyperv)
description:
  - Runs on the target Hyper-V host, after the data mover restored a restore point's disks and configuration files
    into O(source) (C(playbooks/restore_vm.yml) does both; docs/restore.md).
  - First it asks C(Compare-VM) whether the host can import the VM, with the switch mapping O(switches) applied to
    the report, and checks beside it that the VM ID is free, the configuration version is one the host supports
    (C(Get-VMHostSupportedVersion)) and the storage paths exist. Each problem is returned in
    RV(incompatibilities) in words an admin acts on, the task fails, and nothing is changed.
  - O(location=original) replaces the VM named O(vm) on this host. A running VM is refused unless O(force), which
    turns it off (C(Stop-VM -TurnOff)). Its cluster role is removed, the VM unregistered (C(Remove-VM)), its disk
    and configuration files replaced by the restored ones and the VM imported again with its own VM ID into its
    own folders (C(Import-VM -Copy)); its cluster role comes back (C(Add-ClusterVirtualMachineRole)) when it had
    one.
  - O(location=new) imports a copy with a new VM ID (C(Import-VM -Copy -GenerateNewId)) into O(storage_path) and
    O(disk_path), names it O(name), and on a cluster node makes it a cluster role unless O(cluster_role=false).
  - O(start) starts the VM afterwards (C(Start-VM)); otherwise it stays off.
options:
  vm:
    description: Name of the VM of the restore point; with O(location=original), the VM on this host to replace.
    type: str
    required: true
  source:
    description:
      - Folder on this host holding the restored disks and configuration files, as this host sees it (a CSV path or
        an SMB3 path). Removed after a successful import unless O(remove_source=false).
      - With O(disks_in_place), the folder holding the restored configuration files (the VM's disk folder, where the
        data mover rolled the disks back). Required unless O(prepare).
    type: str
  location:
    description: V(original) replaces the VM O(vm); V(new) imports a copy under O(name) with a new VM ID.
    type: str
    required: true
    choices: [original, new]
  configuration:
    description: File name of the configuration file (C(<VM ID>.vmcx)) in O(source), when it holds more than one.
    type: str
  name:
    description: Name of the new VM. Required with O(location=new), refused with O(location=original).
    type: str
  storage_path:
    description:
      - Folder for the new VM's configuration (C(Import-VM -VirtualMachinePath)); its files go into
        C(<storage_path>\Virtual Machines). Required with O(location=new), refused with O(location=original).
    type: str
  disk_path:
    description: Folder for the new VM's disks (C(Import-VM -VhdDestinationPath)); default O(storage_path).
    type: str
  switches:
    description:
      - Virtual switch mapping, source switch name to a switch of this host, or V(null) to leave the adapters of
        that switch disconnected. Switch names are case-blind. An adapter on a switch this host lacks and that is
        not mapped is an incompatibility.
    type: dict
    default: {}
  start:
    description: Start the VM after the import.
    type: bool
    default: false
  force:
    description: With O(location=original), turn a running VM off instead of refusing.
    type: bool
    default: false
  cluster_role:
    description:
      - With O(location=new) on a cluster node, make the VM a cluster role (C(Add-ClusterVirtualMachineRole)).
        O(location=original) brings the role back as the replaced VM had it.
    type: bool
    default: true
  remove_source:
    description: Remove O(source) after a successful import (the import copied its files).
    type: bool
    default: true
  prepare:
    description:
      - With O(location=original), only turn the VM off (O(force)) or refuse while it runs, and return it (RV(vm),
        its disks included); O(source) is not read. The step before the data mover rolls its disks back in place
        (C(playbooks/restore_vm.yml)), so that the VM is off before anything is written.
    type: bool
    default: false
  disks_in_place:
    description:
      - With O(location=original), the VM's own disk files already hold the restore point (a quick rollback by the
        data mover, O(backup.hyperv.data_mover#module:rollback)); O(source) holds its configuration files. They
        are moved into the VM's C(Virtual Machines) folder and the VM registered there with its disks where they
        are (C(Import-VM) without C(-Copy)); O(source) stays.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Runs C(Compare-VM) and the checks, returns the refusals or the VM the import would register (RV(vm)), and
        changes nothing.
  diff_mode:
    support: full
    details: The VM before (V({}) for a new VM) and after.
  platform:
    platforms: windows
notes:
  - Two round trips; the read is sent again when the connection drops, the import is not (it is not harmless twice).
  - C(Import-VM -Copy) does not overwrite files, so O(location=original) deletes the replaced VM's disk and
    configuration files of the same names first.
seealso:
  - module: backup.hyperv.data_mover
  - name: Import-VM
    description: Register, copy, keep or generate the VM ID.
    link: https://learn.microsoft.com/powershell/module/hyper-v/import-vm
  - name: Compare-VM
    description: The VMCompatibilityReport and its Incompatibilities (MessageId, Message, Source).
    link: https://learn.microsoft.com/powershell/module/hyper-v/compare-vm
  - name: Add-ClusterVirtualMachineRole
    description: Make a VM a clustered role.
    link: https://learn.microsoft.com/powershell/module/failoverclusters/add-clustervirtualmachinerole
  - name: Supported virtual machine configuration versions
    description: Which configuration versions each Windows Server runs.
    link: https://learn.microsoft.com/windows-server/virtualization/hyper-v/deploy/upgrade-virtual-machine-version-in-hyper-v-on-windows-or-windows-server
"""

EXAMPLES = r"""
- name: Restore web01 as web01-restored, its adapters on the DR switch
  backup.hyperv.vm_restore:
    vm: web01
    source: C:\ClusterStorage\Volume1\restore\web01
    location: new
    name: web01-restored
    storage_path: C:\ClusterStorage\Volume1\web01-restored
    switches: {Production: DR-Switch, Backup: null}
    start: true
  delegate_to: hv1

- name: Put web01 back as it was, turning it off first
  backup.hyperv.vm_restore:
    vm: web01
    source: C:\ClusterStorage\Volume1\restore\web01
    location: original
    force: true
    start: true
  delegate_to: hv1
"""

RETURN = r"""
vm:
  description:
    - The VM after the task (name, id, state, version, clustered, configuration_location, disks, adapters with name
      and switch); in check mode, the VM the import would register (its id V(null) for a new VM); the VM to
      replace when the task is refused.
  returned: always
  type: dict
incompatibilities:
  description:
    - Each reason the restore cannot go on, with C(kind) (switch, path, id_conflict, version, name_taken,
      missing_vm, layout, file_exists, running, other), C(message_id) and C(message) as Windows gave them,
      C(subject) and C(action), what to do about it. Empty when the restore went on.
  returned: success or refusal
  type: list
  elements: dict
disk_folder:
  description:
    - With O(prepare), the folder of the VM's disks as this host names it (where the data mover rolls them back).
  returned: with O(prepare)
  type: str
  sample: C:\ClusterStorage\Volume1\web01
steps:
  description: What the import did, in order (Stop-VM, Remove-VM, Import-VM, Add-ClusterVirtualMachineRole, ...).
  returned: when the import ran
  type: list
  elements: str
rc:
  description: Exit code of the script that failed.
  returned: failure of a script
  type: int
stdout:
  description: Output of the script that failed.
  returned: failure of a script
  type: str
stderr:
  description: Error output of the script that failed.
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
