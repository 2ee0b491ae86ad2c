# Documentation only: the action plugin plugins/action/proxy_package.py is the implementation.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: proxy_package
short_description: Stage the proxy package on a Windows host and verify its SHA-256 manifest there
version_added: 0.1.0
author:
  - backup.hyperv developers (@backup-hyperv)
description:
  - Stages the package C(make proxy-package) builds (a folder with C(SHA256SUMS) at its root and one folder per
    component) into the package folder O(dest) on the host, from the controller (O(src)) or from a folder the
    host reads, such as a share (O(remote_src)), then verifies O(dest) against the C(SHA256SUMS) staged there.
  - One read lists every file of O(dest) with C(Get-FileHash) (SHA-256). Only the files whose hash differs from
    the package's are staged; from O(src) they travel as one zip, expanded on the host. A second run changes
    nothing.
  - The verification fails, naming the files, when a file C(SHA256SUMS) lists is missing or has another hash,
    or when O(dest) holds a file C(SHA256SUMS) does not list.
  - Without O(src) and O(remote_src), only verifies O(dest) (a package an administrator copied by hand).
  - An upgrade is a new package version in a new folder; the folder of the previous version is left as it is.
options:
  dest:
    description:
      - The package folder on the host, for example C(C:\ProgramData\backup.hyperv\packages\0.1.0); the
        manifest's components name their C(source) folders inside it.
    type: str
    required: true
  src:
    description:
      - The package on the controller, the folder C(build/proxy-package/<version>/package) or the zip
        C(backup.hyperv-proxy-<version>.zip) beside it.
    type: path
  remote_src:
    description:
      - The package folder as the host reads it, for example C(\\\\fileserver\\packages\\0.1.0). The task's user
        on the host needs read access (with WinRM or PSRP and NTLM or Kerberos without delegation, a share reached
        from the host may need C(become) or CredSSP, as the second hop).
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the host and reports the files that would be staged; verifies only when none would be.
  diff_mode:
    support: full
    details: The diff names each file to stage, with its hash before and after.
  platform:
    platforms: windows
seealso:
  - module: backup.hyperv.proxy_components
  - name: Get-FileHash
    description: The cmdlet the read runs on each file of the package folder.
    link: https://learn.microsoft.com/powershell/module/microsoft.powershell.utility/get-filehash
"""

EXAMPLES = r"""
- name: Stage the package built on the controller and verify it
  backup.hyperv.proxy_package:
    src: build/proxy-package/0.1.0/backup.hyperv-proxy-0.1.0.zip
    dest: C:\ProgramData\backup.hyperv\packages\0.1.0

- name: Stage it from a share instead
  backup.hyperv.proxy_package:
    remote_src: \\fs1\packages\0.1.0
    dest: C:\ProgramData\backup.hyperv\packages\0.1.0
"""

RETURN = r"""
dest:
  description: The package folder on the host.
  returned: always
  type: str
verified:
  description:
    - Whether every file of O(dest) matched its C(SHA256SUMS) after staging; V(null) in check mode when files
      would be staged.
  returned: success or a failed verification
  type: bool
steps:
  description: What was run, or in check mode would be run (one step naming the files to stage).
  returned: success
  type: list
  elements: dict
  sample:
    - action: expand_archive
      destination: C:\ProgramData\backup.hyperv\packages\0.1.0
      files: [SHA256SUMS, data_mover\datamover.pyz]
diff:
  description: The files to stage, with their hash before (V(null) when missing) and after (diff mode).
  returned: when diff mode is on
  type: dict
connection_retries:
  description:
    - Round trips to the Windows host that lost their connection and were tried again (docs/backup.md,
      "When the connection drops"), each with C(script), C(error), C(attempt) and C(stage) (connect or run).
  returned: when a connection was retried
  type: list
  elements: dict
"""
