# Documentation only: the action plugin plugins/action/host_facts.py is the implementation.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: host_facts
short_description: Probe a Windows host once and report what off-host backup needs to know
version_added: 0.1.0
author:
  - backup.hyperv developers (@backup-hyperv)
description:
  - Runs one PowerShell script on the host in one round trip and sets the fact
    C(hyperv_offhost) with the host's Windows version and build, Hyper-V and the features it needs,
    its domain identity and trusts, its failover cluster and Cluster Shared Volumes with the LUN
    identifiers behind them, its disks and whether each can be read, its VSS providers, Data
    Deduplication volumes, SMB shares with their share and file-system permissions, its VMs and
    their virtual disk files, and the installed backup components.
  - The document follows a versioned schema shipped with the collection
    (C(plugins/plugin_utils/facts/hyperv_offhost.schema.json)); the action checks it before
    setting the fact.
  - A section the host fails to report becomes an object whose only key is C(error) (with C(message),
    C(category) and C(exception)) instead of failing the task, so one missing cmdlet or permission
    does not hide the rest.
  - Changes nothing on the host.
extends_documentation_fragment:
  - backup.hyperv.probe
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The probe only reads, so check mode runs it and returns the same facts.
  diff_mode:
    support: none
  platform:
    platforms: windows
seealso:
  - module: ansible.builtin.setup
"""

EXAMPLES = r"""
- name: Probe the Hyper-V hosts and the proxy
  backup.hyperv.host_facts:

- name: Report the services of a third-party data mover as well
  backup.hyperv.host_facts:
    probe_timeout: 120
    components:
      - {role: installer, service: BackupHyperVInstaller}
      - {role: data_mover, service: VendorTransportSvc}

- name: Stop when the host runs a different Windows build than the proxy
  ansible.builtin.assert:
    that: ansible_facts.hyperv_offhost.os.build == hostvars['proxy1'].ansible_facts.hyperv_offhost.os.build
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to C(ansible_facts); the same in check mode.
  returned: success
  type: complex
  contains:
    hyperv_offhost:
      description:
        - The probe's document. Top-level keys are C(schema_version), C(collected_at),
          C(probe_duration_ms) and one key per section (C(os), C(hyperv), C(identity), C(cluster),
          C(disks), C(vss_providers), C(features), C(dedup_volumes), C(smb), C(trusts), C(vms),
          C(components)).
        - A section is V(null) when it does not apply (C(cluster) on a host outside a cluster,
          C(smb) on a host without shares) and an object with the single key C(error) when collecting it failed.
        - The schema file shipped with the collection is the authoritative description of every field.
      returned: success
      type: dict
      sample:
        schema_version: "1.0"
        os: {caption: Microsoft Windows Server 2022 Datacenter, version: 10.0.20348, build: 20348, ubr: 2340}
        cluster: null
facts:
  description:
    - The document the probe returned, kept as evidence when it breaks the schema (then the task
      fails and no fact is set).
  returned: when the document breaks the schema
  type: dict
rc:
  description: Exit code of the probe; returned when the probe failed.
  returned: failure
  type: int
stdout:
  description: What the probe printed; returned when the probe failed.
  returned: failure
  type: str
stderr:
  description: Error output of the probe, CLIXML decoded to text; returned when the probe failed.
  returned: failure
  type: str
connection_retries:
  description:
    - Round trips to the Windows host that lost their connection and were tried again (docs/backup.md,
      "When the connection drops"), each with C(script), C(error), C(attempt) and C(stage) (connect or run).
  returned: when a connection was retried
  type: list
  elements: dict
"""
