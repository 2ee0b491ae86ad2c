# Documentation only: the action plugin plugins/action/windows_feature.py is the implementation.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: windows_feature
short_description: Ensure Windows Server features are installed or absent
version_added: 0.1.0
author:
  - backup.hyperv developers (@backup-hyperv)
description:
  - Reads the install state of the features named in O(name) with C(Get-WindowsFeature) in one round trip and,
    only when some differ from O(state), installs them with one C(Install-WindowsFeature) call or removes them
    with one C(Uninstall-WindowsFeature) call in a second round trip.
  - Off-host backup needs C(Hyper-V) on the proxy, and C(FS-Data-Deduplication) on a proxy that backs up VMs
    stored on deduplicated Cluster Shared Volumes (requirement R10).
  - A feature whose install state is C(InstallPending) counts as present and one in C(UninstallPending) as
    absent, so a second run before the reboot changes nothing.
  - Never restarts the host. RV(reboot_required) tells when the cmdlet asks for a restart; reboot with
    a task of your own.
  - Does not depend on C(ansible.windows); it runs the collection's own scripts over the host's connection.
options:
  name:
    description:
      - Feature names as C(Get-WindowsFeature) lists them (the C(Name) column, not the display name), for
        example V(Hyper-V), V(FS-Data-Deduplication), V(Failover-Clustering).
      - Wildcards are refused. A name Windows does not know fails the task before anything changes.
    type: list
    elements: str
    required: true
  state:
    description: Whether the features should be installed or absent.
    type: str
    choices: [present, absent]
    default: present
  include_sub_features:
    description:
      - With O(state=present), also install every sub-feature of each feature (C(-IncludeAllSubFeature)), and
        count a feature as present only when all its sub-features are.
    type: bool
    default: false
  include_management_tools:
    description:
      - Also install or remove the management tools of the features (C(-IncludeManagementTools)).
      - Only used when a change is made; the management tools are separate features that are not compared.
    type: bool
    default: false
  source:
    description:
      - Path of the side-by-side store (for example C(D:\sources\sxs) or a WIM reference) used to install features
        whose payload was removed (install state C(Removed)). Only with O(state=present).
    type: str
extends_documentation_fragment:
  - backup.hyperv.probe
  - ansible.builtin.action_common_attributes
  - backup.hyperv.windows_path
attributes:
  check_mode:
    support: full
    details: Reads the host and returns the plan and the states the features would reach; applies nothing.
  diff_mode:
    support: full
    details: The diff shows each feature's install state before and after.
  platform:
    platforms: windows
notes:
  - Windows Server only (the ServerManager module); Windows client editions use optional features instead.
  - The shared probe options O(probe_timeout) and O(components) are accepted for C(module_defaults) of the
    C(backup.hyperv.probe) group and not used here; C(Get-WindowsFeature) has no timeout of its own.
seealso:
  - module: backup.hyperv.host_facts
  - name: Install-WindowsFeature
    description: The cmdlet the module runs, and its result object.
    link: https://learn.microsoft.com/powershell/module/servermanager/install-windowsfeature
"""

EXAMPLES = r"""
- name: Install Hyper-V and Data Deduplication on the proxy
  backup.hyperv.windows_feature:
    name: [Hyper-V, FS-Data-Deduplication]
  register: features

- name: Reboot when Windows asks for it
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} needs a restart to finish installing features"
  when: features.reboot_required

- name: Remove Failover Clustering from a machine that must not be a cluster node (R8)
  backup.hyperv.windows_feature:
    name: Failover-Clustering
    state: absent
"""

RETURN = r"""
features:
  description:
    - Each requested feature after the task, in the order of O(name); in check mode, as it would be.
    - A changed feature shows its settled state (V(Installed) or V(Available)) even when Windows reports it as
      pending until the reboot.
  returned: success
  type: list
  elements: dict
  contains:
    name: {description: Feature name as Windows spells it., type: str, sample: FS-Data-Deduplication}
    display_name: {description: Display name., type: str, sample: Data Deduplication}
    install_state:
      description: V(Installed), V(Available), V(Removed), V(InstallPending) or V(UninstallPending).
      type: str
      sample: Installed
    sub_features:
      description: Sub-features below the feature (only read with O(include_sub_features)), with their install state.
      type: list
      elements: dict
steps:
  description: What was run, or in check mode would be run, in order (one install or one removal call).
  returned: success
  type: list
  elements: dict
  sample:
    - action: install_features
      names: [Hyper-V]
      include_sub_features: false
      include_management_tools: false
      source: null
reboot_required:
  description:
    - Whether C(Install-WindowsFeature)/C(Uninstall-WindowsFeature) reported RestartNeeded V(Yes).
    - Always V(false) in check mode and when nothing changed.
  returned: success
  type: bool
  sample: true
diff:
  description: The features before and after (diff mode).
  returned: when diff mode is on
  type: dict
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
