# Documentation only: the action plugin plugins/action/repository_folder.py is the implementation.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: repository_folder
short_description: Create a data mover repository folder on Windows that only SYSTEM and Administrators may use
version_added: 0.1.0
author:
  - backup.hyperv developers (@backup-hyperv)
description:
  - The repository holds every VM's disks, and Windows has no file modes; the folder's ACL decides who reads it,
    and the repository's files inherit it.
  - Reads the folder, its owner and its DACL (as SDDL) in one round trip and, only when they differ from the
    desired ones, creates the folder (with any missing parent) and sets its security in a second round trip.
  - The desired DACL is protected (inheritance from the parent removed, inherited entries not kept, as
    C(FileSystemSecurity.SetAccessRuleProtection(true, false)) does) and grants Full control, inherited by
    sub-folders and files, to C(NT AUTHORITY\SYSTEM) (S-1-5-18), C(BUILTIN\Administrators) (S-1-5-32-544) and
    each of O(extra_principals), and nothing to anyone else. The owner is C(BUILTIN\Administrators).
  - Compares by SID, not by name or by text. Order of entries does not count; an extra entry, a missing one,
    other rights or inheritance flags, an inherited entry, or inheritance still enabled do, and are replaced.
  - Does not depend on C(ansible.windows); it runs the collection's own scripts over the host's connection.
options:
  path:
    description:
      - The repository folder on a drive of the host, for example C(D:\Backup\repo). Not a drive root, not a UNC
        path; for a repository on an SMB3 share, run the module on the file server (C(delegate_to)) with the
        local path of the folder behind the share.
      - A path on a drive the host does not have, or a path that is a file, fails the task before anything
        changes.
    type: str
    required: true
  state:
    description: The folder exists with the security described above.
    type: str
    choices: [present]
    default: present
  extra_principals:
    description:
      - Accounts or groups that get Full control besides SYSTEM and Administrators, as C(DOMAIN\name) or as a
        SID string (C(S-1-5-21-...)). For a repository on an SMB3 share, the proxies' computer accounts
        (C(CONTOSO\PROXY1$)) or a group holding them, since the data mover runs as SYSTEM, which reaches the
        share as the computer account.
      - Names are translated to SIDs on the host (C(NTAccount.Translate)); a name Windows cannot map fails the
        task, naming it, before anything changes.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - backup.hyperv.probe
  - ansible.builtin.action_common_attributes
  - backup.hyperv.windows_path
attributes:
  check_mode:
    support: full
    details: Reads the host and returns the plan and the folder as it would be; changes nothing.
  diff_mode:
    support: full
    details: The diff shows the folder's existence and its owner and DACL as SDDL strings, before and after.
  platform:
    platforms: windows
notes:
  - The share permissions of a share in front of the folder also apply; the module does not set them.
  - Principals Windows writes in SDDL as an alias relative to the forest root (C(EA), C(SA)) or to the local
    machine (C(LA), C(LG)) cannot be compared by SID and count as a difference on every run; name such
    accounts through a group.
  - The shared probe options O(probe_timeout) and O(components) are accepted for C(module_defaults) of the
    C(backup.hyperv.probe) group and not used here.
seealso:
  - name: ObjectSecurity.SetAccessRuleProtection
    description: Removing inheritance from a DACL, and whether inherited entries are kept.
    link: https://learn.microsoft.com/dotnet/api/system.security.accesscontrol.objectsecurity.setaccessruleprotection
  - name: Well-known SIDs
    description: The SIDs of SYSTEM and Administrators, the same on every Windows in every language.
    link: https://learn.microsoft.com/windows/win32/secauthz/well-known-sids
  - name: Security Descriptor String Format
    description: The SDDL strings the module reads and returns.
    link: https://learn.microsoft.com/windows/win32/secauthz/security-descriptor-string-format
"""

EXAMPLES = r"""
- name: Create the repository folder on the proxy, for SYSTEM and Administrators only
  backup.hyperv.repository_folder:
    path: D:\Backup\repo

- name: A repository on a file server's share, used by two proxies
  backup.hyperv.repository_folder:
    path: E:\Shares\Backup\repo
    extra_principals:
      - CONTOSO\PROXY1$
      - CONTOSO\PROXY2$
  delegate_to: fs1
"""

RETURN = r"""
folder:
  description: The folder after the task; in check mode, as it would be.
  returned: success
  type: dict
  contains:
    path: {description: The folder's path as given (without a trailing backslash)., type: str, sample: D:\Backup\repo}
    exists: {description: Whether the folder exists., type: bool, sample: true}
    sddl:
      description:
        - Owner and DACL as SDDL. After a change, as Windows reads them back (well-known SIDs and the domain's groups
          as their aliases).
      type: str
      sample: O:BAD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)
steps:
  description: What was run, or in check mode would be run, in order (C(create_folder), C(set_security)).
  returned: success
  type: list
  elements: dict
  sample:
    - {action: create_folder, path: D:\Backup\repo}
    - {action: set_security, path: D:\Backup\repo, owner: S-1-5-32-544, principals: [S-1-5-18, S-1-5-32-544]}
reboot_required:
  description: Always V(false); kept for the shape all install modules share.
  returned: success
  type: bool
  sample: false
diff:
  description: The folder before and after (diff mode).
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
