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
      - V(never) never fails it; read RV(summary) and RV(decision) instead.
      - The findings it counts, less those in O(remedied), are RV(decision.blocking).
    type: str
    choices: [fail, warn, never]
    default: fail
  remedied:
    description:
      - Requirement ids whose findings the caller remedies itself (the C(backup.hyperv.offhost_proxy) role installs
        the Data Deduplication feature for R10 and the VSS provider for R11). They neither block nor fail the task,
        and are still reported.
    type: list
    elements: str
    choices: [R1, R6, R7, R8, R9, R10, R11, R12, R13, R14, R15]
    default: []
  dedup_feature:
    description:
      - Whether RV(decision.needs.features) lists C(FS-Data-Deduplication).
      - V(auto) lists it when a source host reports a volume with Data Deduplication enabled, a CSV or not. The
        proxy reads that volume's shadow copies, and a deduplicated file reads as its data only where Data
        Deduplication runs.
      - V(always) and V(never) list it, or not, whatever the facts say.
    type: str
    choices: [auto, always, never]
    default: auto
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
decision:
  description:
    - What the findings and the facts decide for this proxy; roles and playbooks branch on these fields and work out
      no verdict of their own. Check mode returns the same.
  returned: success
  type: dict
  contains:
    blocked:
      description: Whether any finding blocks; the task fails when one does.
      type: bool
      sample: true
    blocking:
      description: Ids of the findings whose status O(fail_on) counts, less those in O(remedied), in requirement order.
      type: list
      elements: str
      sample: [R8]
    needs:
      description:
        - What the proxy needs for its source hosts. RV(decision.needs.features) and RV(decision.needs.vss_provider)
          say what it must have, present or not; RV(decision.needs.managed_servers) and
          RV(decision.needs.components) name what is missing today.
      type: dict
      contains:
        managed_servers:
          description:
            - Source hosts not shown to be managed servers (R1), because their facts list no installer service or their
              C(components) facts are missing or errored. Apply C(backup.hyperv.managed_server) to them first; the
              C(backup.hyperv.offhost_proxy) role stops on them whatever O(fail_on) says.
          type: list
          elements: str
          sample: [HV2]
        features:
          description: Windows features the source hosts call for (see O(dedup_feature)).
          type: list
          elements: str
          sample: [FS-Data-Deduplication]
        vss_provider:
          description:
            - Whether R11 applies (a source cluster has Cluster Shared Volumes, or that cannot be ruled out), so
              that the proxy and the source hosts need a transportable VSS hardware provider.
          type: bool
          sample: true
        components:
          description:
            - Roles of the backup components the proxy's facts do not list, among C(installer) (R2), C(data_mover) (R3)
              and C(hyperv_integration) (R4); all three when its C(components) facts are missing or errored.
          type: list
          elements: str
          sample: [data_mover]
    can_take_jobs:
      description:
        - Whether the proxy may be given backup jobs now, that is no finding is V(fail) and it runs a data mover (R3).
        - O(fail_on) and O(remedied) do not change it.
      type: bool
      sample: false
report_files:
  description: Paths of the report files written, by format.
  returned: when O(report_dir) is set
  type: dict
  sample: {json: /srv/reports/preflight-PX1.json, markdown: /srv/reports/preflight-PX1.md}
"""
