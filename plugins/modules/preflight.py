# Copyright: backup.hyperv developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of backup.hyperv.preflight; the implementation is plugins/action/preflight.py."""

from __future__ import annotations

DOCUMENTATION = r"""
module: preflight
short_description: Check an off-host backup proxy against its Hyper-V hosts, clusters and SMB3 servers
version_added: 0.1.0
description:
  - Evaluates the requirements an off-host backup proxy must meet (R1, R6 to R15 of the collection's
    requirements) from facts gathered earlier by M(backup.hyperv.host_facts), and returns one finding per
    requirement with status V(pass), V(warn), V(fail) or V(unknown), its evidence and a remedy.
  - Runs on the controller only and contacts no host. Facts come from
    C(hostvars[<host>].ansible_facts.hyperv_offhost), or from O(facts_file) for an offline assessment.
  - V(unknown) means the facts needed were not collected or the probe reported an error for that section;
    the finding names the host and the section.
  - Optionally writes the findings as JSON, Markdown and JUnit XML under O(report_dir).
  - See C(docs/preflight.md) in the collection for what each check evaluates.
options:
  proxy:
    description:
      - Inventory name of the proxy to evaluate (or its name in O(facts_file)).
      - Defaults to the host the task runs for (C(inventory_hostname)).
    type: str
  source_hosts:
    description:
      - Inventory names of the Hyper-V hosts (cluster nodes or standalone) whose VMs the proxy backs up.
    type: list
    elements: str
    required: true
  smb_servers:
    description:
      - Inventory names of the SMB3 file servers that hold VM files of the source hosts.
      - A share named in a VM disk path (C(\\\\server\\share\\...)) is matched to these hosts by name or FQDN.
    type: list
    elements: str
    default: []
  facts_file:
    description:
      - 'Path on the controller of a recorded facts file: a JSON object
        C({"hosts": {"<name>": <hyperv_offhost facts>}}).'
      - When set, facts are read from it instead of from hostvars.
    type: path
  fail_on:
    description:
      - Which findings fail the task.
      - V(fail) fails it when any finding is V(fail).
      - V(warn) also fails it on V(warn) and V(unknown).
      - V(never) never fails it; read RV(summary) instead.
    type: str
    choices: [fail, warn, never]
    default: fail
  report_dir:
    description:
      - Directory on the controller to write the report to, as C(preflight-<proxy>.json), C(preflight-<proxy>.md)
        and C(preflight-<proxy>.junit.xml). Created when missing. No report is written when unset.
    type: path
  report_formats:
    description:
      - Formats of the report written under O(report_dir).
      - In JUnit XML each finding is a test case; V(fail) is a failure, V(unknown) is skipped, V(warn) passes with a
        C(status=warn) property and the warning in C(system-out).
    type: list
    elements: str
    choices: [json, markdown, junit]
    default: [json, markdown, junit]
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
    details: Changes nothing on any host either way; the report files are written in check mode too.
  diff_mode:
    support: none
  connection:
    support: none
  delegation:
    support: none
  platform:
    support: full
    platforms: all
    details: Runs on the controller; the facts it reads describe Windows hosts.
seealso:
  - module: backup.hyperv.host_facts
author:
  - backup.hyperv developers (@backup-hyperv)
"""

EXAMPLES = r"""
- name: Gather facts of the proxy, its hosts and file servers
  backup.hyperv.host_facts:

- name: Check each proxy against the Hyper-V hosts it will serve
  backup.hyperv.preflight:
    source_hosts: "{{ groups['hyperv_hosts'] }}"
    smb_servers: "{{ groups['smb_servers'] | default([]) }}"
    report_dir: "{{ playbook_dir }}/reports"
  when: inventory_hostname in groups['offhost_proxies']

- name: Assess offline from facts recorded earlier, without failing the task
  backup.hyperv.preflight:
    proxy: PX1
    source_hosts: [HV1, HV2]
    smb_servers: [FS1]
    facts_file: /srv/assessments/estate-2026-11.json
    fail_on: never
  register: assessment
"""

RETURN = r"""
proxy:
  description:
    - Name of the proxy evaluated; also when its facts could not be read, so M(backup.hyperv.report) can list it.
  returned: always
  type: str
  sample: PX1
findings:
  description:
    - One finding per requirement, in the order R1, R6, R7, ..., R15. Check mode returns the same.
  returned: success
  type: list
  elements: dict
  contains:
    id: {description: Requirement id., type: str, sample: R8}
    requirement: {description: The requirement in words., type: str}
    status: {description: "V(pass), V(warn), V(fail) or V(unknown).", type: str, sample: fail}
    message: {description: What was found., type: str, sample: PX1 is a node of source cluster CL1}
    evidence: {description: The facts the verdict rests on., type: dict}
    remedy: {description: What to change when the status is not V(pass)., type: str}
summary:
  description: Counts per status, the overall (worst) status, and the requirement ids per status.
  returned: success
  type: dict
  sample: {pass: 9, warn: 1, fail: 1, unknown: 0, status: fail, failed: [R8], warned: [R7], unknown_ids: []}
report_files:
  description: Paths of the report files written, by format.
  returned: when O(report_dir) is set
  type: dict
  sample: {json: /srv/reports/preflight-PX1.json, markdown: /srv/reports/preflight-PX1.md}
"""
