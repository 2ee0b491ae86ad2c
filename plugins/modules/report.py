# Copyright: backup.hyperv developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of backup.hyperv.report; the implementation is plugins/action/report.py."""

from __future__ import annotations

DOCUMENTATION = r"""
module: report
short_description: Write one HTML report of the preflight of every proxy and the backup job's per-VM results
version_added: 0.1.0
description:
  - Writes one self-contained HTML page on the controller that an admin opens in a browser. It has no script
    and loads nothing from elsewhere, so it can be mailed or archived as one file.
  - The preflight section is a table of proxies by requirement (R1, R6 to R15) with each status, then every
    finding that does not pass with its message, remedy and evidence.
  - The backup section has one row per VM with the bytes read and stored, the dedup ratio, the duration and
    the outcome.
  - Runs on the controller only and contacts no host.
  - The page records when it was generated. A run that would only change that time leaves the file as it is
    and reports no change.
options:
  dest:
    description:
      - Path on the controller of the HTML file to write. Missing parent directories are created.
      - The page is written beside it, then renamed over it, so a reader never sees half a page.
    type: path
    required: true
  preflight:
    description:
      - Results registered from M(backup.hyperv.preflight), one per proxy, for example
        C({{ ansible_play_hosts_all | map('extract', hostvars) | selectattr('proxy_preflight', 'defined')
        | map(attribute='proxy_preflight') | list }}).
      - Each needs RV(backup.hyperv.preflight#module:proxy); its RV(backup.hyperv.preflight#module:findings)
        and RV(backup.hyperv.preflight#module:summary) fill the table. A result without findings (its facts
        could not be read) is listed as not assessed, with its C(msg). A skipped result is left out.
    type: list
    elements: dict
    default: []
  backups:
    description:
      - One entry per VM the backup job handled.
    type: list
    elements: dict
    default: []
    suboptions:
      vm:
        description: The VM, for example C(hv1/web01).
        type: str
        required: true
      proxy:
        description: The proxy that backed it up.
        type: str
      restore_point:
        description:
          - Id of the restore point written (RV(backup.hyperv.data_mover#module:restore_point)).
          - Without it, and unless O(backups[].failed), the row says C(NOT STORED) (check mode, or a skipped step).
        type: str
      stats:
        description:
          - The data mover's RV(backup.hyperv.data_mover#module:stats) for that VM.
          - C(bytes_read) and C(bytes_stored) give the read and stored columns, C(duration) the duration.
          - The dedup ratio is C(bytes_deduplicated / (bytes_logical - bytes_zero)), the share of the VM's data
            (zero and unallocated blocks left out) that was already in the repository.
        type: dict
        default: {}
      incremental:
        description:
          - The data mover's RV(backup.hyperv.data_mover#module:incremental) for that VM, per disk how it was read
            (C(mode) V(changed_ranges) or V(full)) and, for a full read, why (C(fallback_reason)).
          - Shown in the C(disks read) column.
        type: dict
        default: {}
      consistency:
        description:
          - How consistent the VM's recovery checkpoint was, V(application) or V(crash) (the guest could not quiesce its
            applications); shown in the C(consistency) column, with O(backups[].consistency_msg) as its reason.
        type: str
        choices: [application, crash]
      consistency_msg:
        description: With V(crash), why the application-consistent checkpoint failed.
        type: str
      failed:
        description: Whether the backup of this VM failed.
        type: bool
        default: false
      msg:
        description: Why it failed, shown in the row.
        type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.conn
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  become:
    support: none
  check_mode:
    support: full
    details: Writes nothing; the task's C(changed) says whether the file would change.
  diff_mode:
    support: full
    details: The old and new text of the file.
  connection:
    support: none
  delegation:
    support: none
  platform:
    support: full
    platforms: all
    details: Runs on the controller.
seealso:
  - module: backup.hyperv.preflight
  - module: backup.hyperv.data_mover
author:
  - backup.hyperv developers (@backup-hyperv)
"""

EXAMPLES = r"""
- name: Check each proxy without failing
  backup.hyperv.preflight:
    source_hosts: "{{ groups['hyperv_hosts'] }}"
    fail_on: never
  register: proxy_preflight

- name: Write one HTML report across all proxies
  backup.hyperv.report:
    dest: /srv/reports/preflight.html
    preflight: "{{ ansible_play_hosts_all | map('extract', hostvars) | selectattr('proxy_preflight', 'defined')
                  | map(attribute='proxy_preflight') | list }}"
  run_once: true

- name: Add the backup job's per-VM results
  backup.hyperv.report:
    dest: /srv/reports/backup.html
    preflight: "{{ ansible_play_hosts_all | map('extract', hostvars) | selectattr('proxy_preflight', 'defined')
                  | map(attribute='proxy_preflight') | list }}"
    backups:
      - vm: hv1/web01
        proxy: px1
        restore_point: 20261124T220501.123456Z-3f2a9c1e
        stats: {bytes_read: 1073741824, bytes_stored: 52428800, bytes_deduplicated: 1010827264,
                bytes_logical: 2147483648, bytes_zero: 1073741824, duration: 4.2}
      - vm: hv2/sql01
        proxy: px1
        failed: true
        msg: shadow copy failed
  run_once: true
"""

RETURN = r"""
dest:
  description: Path of the HTML file (in check mode, that would be written).
  returned: success
  type: str
  sample: /srv/reports/backup.html
failed_vms:
  description: The VMs of O(backups) whose backup failed.
  returned: success
  type: list
  elements: str
  sample: [hv2/sql01]
"""
