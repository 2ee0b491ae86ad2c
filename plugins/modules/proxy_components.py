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
    folder (all of them when the version changes, otherwise only missing or altered ones), records its version and
    location, creates or corrects the Windows service (binary path, start mode, built-in account, dependencies,
    recovery actions, values under its C(Parameters) key), opens the inbound firewall rule of its port, and starts
    it.
  - A component without O(manifest.components[].service), a program started per job such as the data mover, is its
    files, its record and, when declared, its firewall rule. A service an earlier manifest declared for a component
    (the component's record names it) and the manifest no longer declares, or declares under another name, is
    stopped and deleted.
  - With O(state=absent), stops and deletes the services (the declared one and the one the record names), removes
    the firewall rules, the files and the version records, in reverse manifest order.
  - The manifest is checked before anything is sent to the host; a bad field fails the task with its path in
    the message.
  - Reads the host in one round trip and changes it in a second one, only when something differs. A second run
    with the same manifest reports RV(ignore:changed=false) and makes one round trip.
options:
  manifest:
    description:
      - The component manifest, a dict with one key O(manifest.components), the list of components.
      - "Checked before anything is sent to the host. A bad field fails the task with its path first, for example
        C(manifest.components[1].service: value of start_mode must be one of: auto, delayed_auto, manual, disabled,
        got: sometimes). Unknown fields are errors too."
      - Beyond the types and choices below, names are case-blind unique (component, service and firewall rule
        names across components, file paths within one), and a service cannot be
        O(manifest.components[].service.state=running) with O(manifest.components[].service.start_mode=disabled).
      - The collection's documentation (C(docs/installs.md)) explains the manifest of the collection's own package,
        the role C(backup.hyperv.offhost_proxy)'s default.
    type: dict
    required: true
    suboptions:
      components:
        description: The components, installed in this order and removed in the reverse order. At least one.
        type: list
        elements: dict
        required: true
        suboptions:
          name:
            description:
              - Component name, unique (case-blind); names its version record.
              - Letters, digits, C(_), C(.), C(-), starting with a letter or digit.
            type: str
            required: true
          role:
            description: What the component does for the proxy, as M(backup.hyperv.host_facts) reports components.
            type: str
            choices: [installer, data_mover, hyperv_integration, other]
            default: other
          version:
            description: The component's version; a change copies every file again (an upgrade).
            type: str
            required: true
          source:
            description:
              - Absolute folder on the host holding the files to install (C(C:\...) or C(\\server\share)), staged there
                beforehand. C(/) is read as C(\); a trailing C(\) is dropped.
            type: str
            required: true
          destination:
            description:
              - Absolute folder on the host the files are copied into, written as O(manifest.components[].source).
            type: str
            required: true
          files:
            description:
              - The component's files, at least one.
              - A plain string is short for a dict with only O(manifest.components[].files[].path).
            type: list
            elements: dict
            required: true
            suboptions:
              path:
                description:
                  - Path relative to both O(manifest.components[].source) and O(manifest.components[].destination),
                    unique (case-blind) within the component; no C(.), C(..), drive or empty part.
                type: str
                required: true
              sha256:
                description:
                  - Expected SHA-256 of the file, 64 hexadecimal digits.
                  - When omitted, the hash of the file in O(manifest.components[].source) is expected.
                type: str
              version:
                description: Expected file version (the executable's version resource).
                type: str
          service:
            description:
              - The Windows service that runs the component.
              - Omit it for a program that runs only when a job starts it (the data mover). A service the component's
                record names from an earlier manifest is then stopped and deleted.
            type: dict
            suboptions:
              name:
                description:
                  - Windows service name, unique (case-blind); the same characters as O(manifest.components[].name).
                type: str
                required: true
              binary_path:
                description:
                  - The service's full command line, quoted as Windows needs (C("C:\...\x.exe" --service)).
                  - Compared exactly.
                type: str
                required: true
              display_name:
                description: Display name; defaults to O(manifest.components[].service.name).
                type: str
              description:
                description: Service description; when omitted it is not managed (whatever the host has stays).
                type: str
              start_mode:
                description: Start type of the service.
                type: str
                choices: [auto, delayed_auto, manual, disabled]
                default: auto
              account:
                description:
                  - Built-in account the service runs as, so no password is ever needed. V(LocalSystem),
                    V(LocalService) or V(NetworkService), in any case, optionally written as C(NT AUTHORITY\...)
                    (results use the spelling C(Win32_Service) reports).
                type: str
                default: LocalSystem
              state:
                description: Whether the service should be running.
                type: str
                choices: [running, stopped]
                default: running
              dependencies:
                description: Names of the services it depends on (compared as a set, case-blind).
                type: list
                elements: str
                default: []
              recovery:
                description: What the Service Control Manager does when the service fails.
                type: dict
                default:
                  reset_period: 86400
                  actions:
                    - {type: restart, delay_ms: 60000}
                    - {type: restart, delay_ms: 60000}
                    - {type: restart, delay_ms: 60000}
                suboptions:
                  reset_period:
                    description: Seconds without failure after which the failure count is reset (0 to 4294967295).
                    type: int
                    default: 86400
                  actions:
                    description: Up to three actions, for the first, second and later failures; none when empty.
                    type: list
                    elements: dict
                    default: []
                    suboptions:
                      type:
                        description: Restart the service, or reboot the computer.
                        type: str
                        required: true
                        choices: [restart, reboot]
                      delay_ms:
                        description: Milliseconds to wait before the action (0 to 4294967295).
                        type: int
                        default: 60000
              parameters:
                description:
                  - Registry values under C(HKLM\SYSTEM\CurrentControlSet\Services\<name>\Parameters), by value name.
                  - A string is written as C(REG_SZ); an integer (0 to 4294967295) or a boolean as C(REG_DWORD).
                  - Values not listed are left as they are.
                type: dict
                default: {}
          firewall:
            description: The inbound firewall rule the component's port needs; always an enabled inbound allow rule.
            type: dict
            suboptions:
              name:
                description: The rule's C(Name) (its unique id), unique (case-blind) across components.
                type: str
                required: true
              local_port:
                description: Local port the rule opens (1 to 65535).
                type: int
                required: true
              display_name:
                description: Display name; defaults to O(manifest.components[].firewall.name).
                type: str
              protocol:
                description: IP protocol of the rule.
                type: str
                choices: [TCP, UDP]
                default: TCP
              profiles:
                description: Network profiles the rule applies to; V(any) alone, or some of the others.
                type: list
                elements: str
                choices: [any, domain, private, public]
                default: [any]
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
    details: The diff shows each component (version, record, file hashes, service, former service, firewall rule) before
      and after.
  platform:
    platforms: windows
notes:
  - The installed version of each component is recorded in C(HKLM:\SOFTWARE\backup.hyperv\Components\<name>),
    with its role, destination, service (when it has one) and, for the data mover, its runtime and engine; the data
    mover and the facts find the component by this record.
  - Services run as built-in accounts only, so no service password is ever needed.
  - Recovery actions are read from the service's C(FailureActions) registry value as numbers, so a localised
    Windows is read as an English one.
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

- name: Install only the data mover, which runs per job and so has no service
  backup.hyperv.proxy_components:
    manifest:
      components:
        - name: data_mover
          role: data_mover
          version: 0.1.0
          source: C:\ProgramData\backup.hyperv\packages\0.1.0\data_mover
          destination: C:\Program Files\backup.hyperv\DataMover
          files: [datamover.pyz, python\python.exe, python\python313.dll, python\python313.zip, python\python313._pth]

- name: Install a component that runs as a service, with its firewall rule
  backup.hyperv.proxy_components:
    manifest:
      components:
        - name: agent
          version: 1.2.0
          source: \\files\packages\agent\1.2.0
          destination: C:\Program Files\Agent
          files: [agent.exe]
          service:
            name: ExampleAgent
            binary_path: '"C:\Program Files\Agent\agent.exe" --service --port 6170'
            dependencies: [Tcpip]
          firewall: {name: ExampleAgent-TCP-In, local_port: 6170, profiles: [domain]}

- name: Remove the components
  backup.hyperv.proxy_components:
    manifest: "{{ offhost_proxy_manifest }}"
    state: absent
"""

RETURN = r"""
components:
  description:
    - Each component of the manifest, by name, after the task; in check mode, as it would be.
    - C(version) is the recorded version, C(record) the record's other values, C(files) maps each file to its
      C(sha256) and C(version) (V(null) when absent), C(service) is the service's configuration and state (V(null)
      for a component without one), C(former_service) a service the record names that the manifest no longer
      declares (V(null) after the task), C(firewall) the rule.
  returned: success
  type: dict
  sample:
    data_mover:
      version: 0.1.0
      record: {Role: data_mover, Destination: C:\Program Files\backup.hyperv\DataMover, Service: null,
               Runtime: python\python.exe, Engine: datamover.pyz}
      files: {datamover.pyz: {sha256: 9f2c..., version: null}}
      service: null
      former_service: null
      firewall: null
steps:
  description: The steps the apply script ran, or in check mode would run, in order; empty when nothing differs.
  returned: success
  type: list
  elements: dict
  sample: [{action: stop_service, name: ExampleAgent}, {action: copy_files, component: agent}]
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
connection_retries:
  description:
    - Round trips to the Windows host that lost their connection and were tried again (docs/backup.md,
      "When the connection drops"), each with C(script), C(error), C(attempt) and C(stage) (connect or run).
  returned: when a connection was retried
  type: list
  elements: dict
"""
