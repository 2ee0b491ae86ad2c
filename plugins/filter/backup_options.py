# Copyright: backup.hyperv developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``backup_option_problems``: the run variables of ``playbooks/backup.yml`` that a task of a volume group would
refuse, checked in the run's first play, before any host is reached (``plugin_utils/backup_option_checks.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError


def backup_option_problems(options: Any) -> list[str]:
    """One message per run variable (``{name: value}``, None for unset) that its task would refuse, naming it."""
    if not isinstance(options, Mapping):
        raise AnsibleFilterError(f"backup_option_problems takes a mapping of variables, got {type(options).__name__}")
    # Imported here, not at the top: a worker that templates any filter of this collection imports every filter
    # file, and the checks bring the data mover's and group_snapshot's option code, which only this filter needs.
    from ansible_collections.backup.hyperv.plugins.plugin_utils import backup_option_checks

    return backup_option_checks.backup_option_problems(options)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"backup_option_problems": backup_option_problems}
