# Copyright: backup.hyperv developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``vm_restore_option_problems``: what ``backup.hyperv.vm_restore`` would refuse of the options
``playbooks/restore_vm.yml`` gives it, asked in the playbook's first checks.

The registration is the restore's last step: for ``location: new`` the data mover has written the restore point's
files into the staging folder by then, and a refused option (a name that is the VM's own, a relative folder, a
start flag that is not a boolean) would leave them there and refuse the next attempt ("destination exists"). The
module's own argument spec and checks answer (``plugin_utils/vm_restore.py``, ``option_problems``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError


def vm_restore_option_problems(options: Any, variables: Any = None) -> list[str]:
    """The refusals of the ``vm_restore`` options ``{option: value}`` (a value of None: the option left out), in the
    module's words, each led by the playbook variables (``variables``: ``{option: variable}``) of the options it
    names; empty when the module takes them."""
    if not isinstance(options, Mapping):
        raise AnsibleFilterError(f"vm_restore_option_problems takes a mapping of options, got {type(options).__name__}")
    # Imported here, not at the top: a worker that templates any filter of this collection imports every filter file.
    from ansible_collections.backup.hyperv.plugins.plugin_utils.vm_restore import option_problems

    return option_problems(options, variables if isinstance(variables, Mapping) else {})


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"vm_restore_option_problems": vm_restore_option_problems}
