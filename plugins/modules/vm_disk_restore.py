# Documentation only: the action plugin plugins/action/vm_disk_restore.py is the implementation.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: vm_disk_restore
short_description: Put one restored disk into an existing Hyper-V VM, replacing a drive's disk or beside them
version_added: 0.1.0
author:
  - backup.hyperv developers (@backup-hyperv)
description:
  - Runs on the Hyper-V host of the VM, after the data mover restored one disk of a restore point to O(path), a
    file this host reads (docs/restore.md, "Into an existing VM").
  - O(mode=replace) points an existing drive of the VM at O(path) (C(Set-VMHardDiskDrive -Path)); the drive is the
    one given by O(controller_type), O(controller_number) and O(controller_location), else the one whose file has
    the same file name as O(path). A running VM is refused unless O(force), which turns it off first
    (C(Stop-VM -TurnOff)). The file the drive used is left where it is.
  - O(mode=attach) adds a drive for O(path) (C(Add-VMHardDiskDrive)) at the location given, else at the first free
    location of the VM's first controller (SCSI for generation 2, IDE for generation 1). A SCSI drive can be added
    to a running VM; an IDE drive cannot.
  - Refused before anything changes, with what to do, as Hyper-V refuses them - a location in use, an IDE change
    while the VM runs, IDE on a generation 2 VM, a location outside the VM's controllers, a missing VM or file.
  - A drive that already uses O(path) is no change.
options:
  vm:
    description: Name of the existing VM on this host.
    type: str
    required: true
  path:
    description: The restored disk, as this host names it (a local, CSV or SMB3 path).
    type: str
    required: true
  mode:
    description: V(replace) a drive's disk, or V(attach) the disk as a new drive.
    type: str
    required: true
    choices: [replace, attach]
  controller_type:
    description: The drive's controller type. With O(controller_number) and O(controller_location), or none of them.
    type: str
    choices: [IDE, SCSI]
  controller_number:
    description: The controller (IDE 0-1, SCSI 0-3).
    type: int
  controller_location:
    description: The location on the controller (IDE 0-1, SCSI 0-63).
    type: int
  force:
    description: With O(mode=replace), turn a running VM off instead of refusing.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the VM and its drives and returns the slot it would change (RV(slot)), or the refusals.
  diff_mode:
    support: none
  platform:
    platforms: windows
notes:
  - Two round trips; the read is sent again when the connection drops, the change is not.
seealso:
  - module: backup.hyperv.data_mover
  - module: backup.hyperv.vm_restore
  - name: Set-VMHardDiskDrive
    description: Point a drive at another virtual disk file.
    link: https://learn.microsoft.com/powershell/module/hyper-v/set-vmharddiskdrive
  - name: Add-VMHardDiskDrive
    description: Add a drive on a controller location.
    link: https://learn.microsoft.com/powershell/module/hyper-v/add-vmharddiskdrive
"""

EXAMPLES = r"""
- name: Put web01's data disk back from last night's restore point (VM off)
  backup.hyperv.vm_disk_restore:
    vm: web01
    path: C:\ClusterStorage\Volume1\web01\web01-data.vhdx
    mode: replace
    force: true
  delegate_to: hv1

- name: Attach the restored disk beside web01's disks, to copy files from it
  backup.hyperv.vm_disk_restore:
    vm: web01
    path: C:\ClusterStorage\Volume1\restore\web01-data.vhdx
    mode: attach
    controller_type: SCSI
    controller_number: 0
    controller_location: 5
  delegate_to: hv1
"""

RETURN = r"""
drives:
  description: The VM's drives after the task (before, in check mode or when refused), each with controller_type,
    controller_number, controller_location and path.
  returned: when the VM exists
  type: list
  elements: dict
slot:
  description: The drive changed or added, as C(SCSI 0:1).
  returned: changed
  type: str
steps:
  description: What was done, in order (Stop-VM -TurnOff, Set-VMHardDiskDrive or Add-VMHardDiskDrive).
  returned: always
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
