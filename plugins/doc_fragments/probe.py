"""Documentation of the options every probing action shares (action group ``backup.hyperv.probe``).

The options are defined once, in ``plugins/plugin_utils/argspec.py`` (``probe_argument_spec``);
this fragment documents that spec and nothing else, so the two change together.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  probe_timeout:
    description:
      - Upper bound, in seconds, for each slow query the probe makes on the host (CIM queries,
        external commands such as C(nltest), and the read test of each disk).
      - A query that takes longer is abandoned and reported as the error of its section; the rest
        of the probe goes on.
      - It does not bound the whole task; use the task keyword C(timeout) for that.
      - Must be between V(1) and V(3600).
    type: int
    default: 60
    version_added: 0.1.0
  components:
    description:
      - Windows services of the backup product to report, each with the duty it serves.
      - A listed service that is not installed on the host is left out of the result.
      - The default names the services the collection's own proxy components install.
      - All probing actions of the C(backup.hyperv.probe) action group accept this option, so
        C(module_defaults) can set it once for the group.
    type: list
    elements: dict
    default:
      - {role: installer, service: BackupHyperVInstaller}
      - {role: data_mover, service: BackupHyperVDataMover}
      - {role: hyperv_integration, service: BackupHyperVIntegration}
    version_added: 0.1.0
    suboptions:
      role:
        description: Duty of the component, as the facts report it.
        type: str
        required: true
        choices: [installer, data_mover, hyperv_integration, other]
      service:
        description: Windows service name (not the display name); matched without regard to case.
        type: str
        required: true
notes:
  - The probe runs as one PowerShell script in one round trip over the host's own connection
    (C(ansible.builtin.psrp) or C(ansible.builtin.winrm)); its parameters travel on stdin, never on
    the command line.
"""
