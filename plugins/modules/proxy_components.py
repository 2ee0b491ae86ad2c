# Documentation only: the action plugin plugins/action/proxy_components.py is the implementation.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: proxy_components
short_description: Install, upgrade, repair or remove the backup proxy's services from a component manifest
version_added: 0.1.0
author:
  - backup.hyperv developers (@backup-hyperv)
description:
  - Converges the components an off-host backup proxy runs, the installer service (R2), the data mover (R3)
    and the Hyper-V integration service with changed block tracking (R4), to what O(manifest) describes.
  - For each component it copies the files from the manifest's source folder on the host into its destination
    folder (all of them when the version changes, otherwise only missing or altered ones), creates or corrects
    the Windows service (binary path, start mode, built-in account, dependencies, recovery actions, values under
    its C(Parameters) key), opens the inbound firewall rule of its port, and starts it.
  - With O(state=absent), stops and deletes the services, removes the firewall rules, the files and the version
    records, in reverse manifest order.
  - The manifest is checked before anything is sent to the host; a bad field fails the task with its path in
    the message.
  - Reads the host in one round trip and changes it in a second one, only when something differs. A second run
    with the same manifest reports RV(ignore:changed=false) and makes one round trip.
options:
  manifest:
    description:
      - The component manifest, a dict with one key C(components), the list of components.
      - Each component has C(name), C(role) (V(installer), V(data_mover), V(hyperv_integration), V(other)),
        C(version), C(source) and C(destination) (absolute folders on the host), C(files) (paths relative to
        both folders, or dicts with C(path), C(sha256), C(version)), C(service) and optionally C(firewall).
      - C(service) has C(name), C(binary_path), C(display_name), C(description), C(start_mode) (V(auto),
        V(delayed_auto), V(manual), V(disabled)), C(account) (V(LocalSystem), V(LocalService), V(NetworkService)),
        C(state) (V(running), V(stopped)), C(dependencies), C(recovery) (C(reset_period) and up to three
        C(actions), each a C(type) V(restart) or V(reboot) with a C(delay_ms)) and C(parameters) (registry values).
      - C(firewall) has C(name), C(display_name), C(protocol) (V(TCP), V(UDP)), C(local_port) and C(profiles).
      - The collection's documentation (C(docs/installs.md)) describes every field and its default, and gives the
        manifest of the collection's own three services.
    type: dict
    required: true
  state:
    description: Whether the manifest's components should be installed and running, or removed.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - backup.hyperv.probe
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the host and returns the plan and the state it would reach; applies nothing.
  diff_mode:
    support: full
    details: The diff shows each component (version, file hashes, service, firewall rule) before and after.
  platform:
    platforms: windows
notes:
  - The installed version of each component is recorded in C(HKLM:\SOFTWARE\backup.hyperv\Components\<name>).
  - Services run as built-in accounts only, so no service password is ever needed.
  - Recovery actions are read from C(sc.exe qfailure), whose action words are English; on a localised Windows
    the recovery actions are set again on every run.
  - The option O(components) of the shared probe options is accepted for C(module_defaults) of the
    C(backup.hyperv.probe) group and not used here; O(manifest) names the services.
seealso:
  - module: backup.hyperv.host_facts
  - module: backup.hyperv.vss_provider
"""

EXAMPLES = r"""
- name: Converge the proxy's components from the manifest kept in inventory
  backup.hyperv.proxy_components:
    manifest: "{{ offhost_proxy_manifest }}"

- name: Show what an upgrade would change
  backup.hyperv.proxy_components:
    manifest: "{{ offhost_proxy_manifest }}"
  check_mode: true
  diff: true

- name: Install only the data mover, with its firewall rule
  backup.hyperv.proxy_components:
    manifest:
      components:
        - name: data_mover
          role: data_mover
          version: 0.1.0
          source: C:\ProgramData\backup.hyperv\packages\0.1.0\data_mover
          destination: C:\Program Files\backup.hyperv\DataMover
          files: [BackupHyperVDataMover.exe, datamover.pyz]
          service:
            name: BackupHyperVDataMover
            binary_path: '"C:\Program Files\backup.hyperv\DataMover\BackupHyperVDataMover.exe" --service --port 6170'
            dependencies: [Tcpip]
          firewall: {name: BackupHyperV-DataMover-TCP-In, local_port: 6170, profiles: [domain]}

- name: Remove the components
  backup.hyperv.proxy_components:
    manifest: "{{ offhost_proxy_manifest }}"
    state: absent
"""

RETURN = r"""
components:
  description:
    - Each component of the manifest, by name, after the task; in check mode, as it would be.
    - C(version) is the recorded version, C(files) maps each file to its C(sha256) and C(version) (V(null) when
      absent), C(service) is the service's configuration and state, C(firewall) the rule.
  returned: success
  type: dict
  sample:
    data_mover:
      version: 0.1.0
      files: {BackupHyperVDataMover.exe: {sha256: 9f2c..., version: 0.1.0.0}}
      service: {name: BackupHyperVDataMover, start_mode: auto, account: LocalSystem, state: running}
      firewall: {name: BackupHyperV-DataMover-TCP-In, protocol: TCP, local_port: 6170, enabled: true}
steps:
  description: The steps the apply script ran, or in check mode would run, in order; empty when nothing differs.
  returned: success
  type: list
  elements: dict
  sample: [{action: stop_service, name: BackupHyperVDataMover}, {action: copy_files, component: data_mover}]
reboot_required:
  description: Always V(false); the components need no reboot.
  returned: success
  type: bool
rc:
  description: Exit code of the script that failed.
  returned: failure
  type: int
stdout:
  description: What the failing script printed.
  returned: failure
  type: str
stderr:
  description: Error output of the failing script.
  returned: failure
  type: str
"""
