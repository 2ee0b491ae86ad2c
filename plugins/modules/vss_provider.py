# Documentation only: the action plugin plugins/action/vss_provider.py is the implementation.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: vss_provider
short_description: Install, configure and verify a vendor VSS hardware provider on a Windows host
version_added: 0.1.0
author:
  - backup.hyperv developers (@backup-hyperv)
description:
  - Installs the storage vendor's VSS hardware provider from O(package) (an MSI or an EXE on the host) unless
    the product O(product_id) is installed at O(version), configures it with the vendor's command-line tool
    (the server that controls the LUNs, the array credentials), and verifies that Windows lists a provider
    named O(name) with type C(hardware) (requirement R11 of off-host backup).
  - With O(state=absent), removes the product (C(msiexec /x) for an MSI, the Uninstall key's command for an
    EXE) and the configuration record.
  - Reads the host in one round trip and changes it in a second one, only when something differs. A second run
    with the same options reports RV(ignore:changed=false) and makes one round trip.
  - Windows has no query for transportable shadow copy support; only hardware providers can create
    transportable shadow copies, so the module verifies the provider type and the vendor's certification
    covers the rest.
options:
  name:
    description: Provider name exactly as C(vssadmin list providers) lists it.
    type: str
    required: true
  state:
    description: Whether the provider should be installed and configured, or removed.
    type: str
    choices: [present, absent]
    default: present
  package:
    description:
      - Path of the MSI or EXE on the host. Required when O(state=present).
      - Read only when an install, upgrade or repair is needed.
    type: str
  package_type:
    description: Installer kind; V(auto) decides by the extension of O(package).
    type: str
    choices: [auto, msi, exe]
    default: auto
  product_id:
    description:
      - Name of the product's key under C(HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall)
        (64-bit or WOW6432Node view). For an MSI this is its ProductCode, C({XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}).
      - Together with O(version) it decides whether the product is installed.
    type: str
    required: true
  version:
    description:
      - Version that counts as installed, compared with the Uninstall key's C(DisplayVersion)
        (dotted numbers compare numerically, trailing zeros ignored). Required when O(state=present).
      - Another installed version is upgraded with O(package); an MSI with the same ProductCode is reinstalled
        with C(REINSTALL=ALL REINSTALLMODE=vomus).
    type: str
  install_arguments:
    description:
      - Extra command-line text for the installer. For an MSI it follows C(/i <package> /qn /norestart);
        for an EXE it is the whole argument string, so include the vendor's silent switch.
    type: str
    default: ''
  uninstall_arguments:
    description:
      - Extra command-line text for the uninstall, after C(msiexec /x <product_id> /qn /norestart) for an MSI,
        or after the Uninstall key's command for an EXE.
    type: str
    default: ''
  config_command:
    description:
      - Path of the vendor's configuration tool on the host. Without it the provider is installed but not configured.
    type: str
  config_arguments:
    description:
      - Argument string of O(config_command), a template with the placeholders C({controlling_server}),
        C({array_user}) and C({array_password}), filled in on the host.
      - The password reaches the host as stdin data of the apply script, never in a command line of the task;
        the filled-in argument string exists only on the host, while the tool runs. Prefer O(config_password_stdin)
        when the vendor's tool can read the password from its standard input.
    type: str
  config_password_stdin:
    description: Write O(array_password) followed by a newline to the standard input of O(config_command).
    type: bool
    default: false
  controlling_server:
    description: Server that controls the LUNs (the array or its management server), for the template.
    type: str
  array_user:
    description: User name on the storage array, for the template.
    type: str
  array_password:
    description: Password of O(array_user) on the storage array. Never returned, logged or recorded on the host.
    type: str
  update_password:
    description:
      - V(on_create) runs the configuration tool only when the product is installed or the recorded
        configuration (server, user, command, template) differs; the password cannot be read back to compare,
        so a changed O(array_password) alone is never pushed to the host.
      - V(always) runs the tool on every run when O(config_command) and O(array_password) are set. This is the
        way to push a rotated array password. Every such run makes the second round trip (the apply script
        runs the tool and verifies the provider) and reports RV(ignore:changed=true); in check mode it reports
        the change and runs nothing. Use it in the run that rotates the password (see EXAMPLES) and keep
        V(on_create) in the playbooks that run on a schedule, so they stay idempotent.
    type: str
    choices: [always, on_create]
    default: on_create
extends_documentation_fragment:
  - backup.hyperv.probe
  - ansible.builtin.action_common_attributes
  - backup.hyperv.windows_path
attributes:
  check_mode:
    support: full
    details: Reads the host and returns the plan and the state it would reach; applies nothing.
  diff_mode:
    support: full
    details: The diff shows the provider, product and configuration before and after; never the password.
  platform:
    platforms: windows
notes:
  - The configuration the module applied is recorded (without the password) in
    C(HKLM:\SOFTWARE\backup.hyperv\VssProviders\<name>) so the next run can compare it.
  - The option O(components) of the shared probe options is accepted for C(module_defaults) of the
    C(backup.hyperv.probe) group and not used here.
seealso:
  - module: backup.hyperv.host_facts
  - name: Transportable shadow copies
    description: Why a hardware provider is needed to move a shadow copy to another host.
    link: https://learn.microsoft.com/windows/win32/vss/transportable-shadow-copies
"""

EXAMPLES = r"""
- name: Install and configure the array vendor's VSS hardware provider
  backup.hyperv.vss_provider:
    name: Contoso Array VSS Hardware Provider
    package: C:\Installers\ContosoVssProvider-5.2.1.msi
    product_id: "{6A1C2E0B-7A4F-4F8B-9C1D-2B7E5A9D3C11}"
    version: 5.2.1
    config_command: C:\Program Files\Contoso\VSS\contoso-vss-config.exe
    config_arguments: --array {controlling_server} --user {array_user} --password-stdin
    config_password_stdin: true
    controlling_server: array01.example.com
    array_user: vss-backup
    array_password: "{{ vault_array_password }}"

# After the password changes on the array: push it to the host once. With update_password=always the tool
# runs, and the task reports a change, on every run, so keep this task out of scheduled playbooks.
- name: Push the rotated array password to the VSS hardware provider
  backup.hyperv.vss_provider:
    name: Contoso Array VSS Hardware Provider
    package: C:\Installers\ContosoVssProvider-5.2.1.msi
    product_id: "{6A1C2E0B-7A4F-4F8B-9C1D-2B7E5A9D3C11}"
    version: 5.2.1
    config_command: C:\Program Files\Contoso\VSS\contoso-vss-config.exe
    config_arguments: --array {controlling_server} --user {array_user} --password-stdin
    config_password_stdin: true
    controlling_server: array01.example.com
    array_user: vss-backup
    array_password: "{{ vault_array_password }}"
    update_password: always

- name: Remove it again
  backup.hyperv.vss_provider:
    name: Contoso Array VSS Hardware Provider
    product_id: "{6A1C2E0B-7A4F-4F8B-9C1D-2B7E5A9D3C11}"
    state: absent
"""

RETURN = r"""
provider:
  description:
    - The provider as Win32_ShadowProvider lists it after the task (C(id), C(name), C(type), C(version));
      V(null) when absent. In check mode, as it would be (C(id) and C(version) V(null) when not yet known).
  returned: success
  type: dict
  sample:
    id: "{b5946137-7b9f-4925-af80-51abd60b20d5}"
    name: Contoso Array VSS Hardware Provider
    type: hardware
    version: 5.2.1
product:
  description:
    - The Uninstall key's view of the product (C(product_id), C(name), C(version), C(windows_installer),
      C(uninstall_command)) after the task, or as it would be in check mode; V(null) when absent.
  returned: success
  type: dict
configuration:
  description:
    - The recorded configuration (C(controlling_server), C(array_user), C(command), C(arguments) template) after
      the task, or as it would be in check mode; never the password.
  returned: success
  type: dict
steps:
  description: The steps the apply script ran, or in check mode would run, in order; empty when nothing differs.
  returned: success
  type: list
  elements: dict
  sample: [{action: install_package, type: msi, reinstall: false}, {action: verify_provider, type: hardware}]
reboot_required:
  description:
    - Whether the installer asked for a reboot (exit code 3010 or 1641). Always V(false) in check mode.
    - After 1641 (the installer started the restart itself) the steps after it are not run, and a warning names
      them; run the task again once the host is back. A step that fails after a 3010 says the restart may be
      what it needs.
  returned: success
  type: bool
rc:
  description: Exit code of the script that failed.
  returned: failure
  type: int
stdout:
  description: What the failing script printed, with the password masked.
  returned: failure
  type: str
stderr:
  description: Error output of the failing script, with the password masked.
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
