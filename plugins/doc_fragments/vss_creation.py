"""Documentation of how the modules that create a shadow copy set wait for VSS on the source host.

The rule is ``plugins/plugin_utils/scripts/shadow_copy_create.ps1`` (its host mutex, ``$InProgressRetrySeconds``
and ``-InProgressTimeoutSeconds``); this fragment documents that rule and nothing else, so the two change together.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
notes:
  - >-
    VSS creates one shadow copy set at a time on a host (C(VSS_E_SNAPSHOT_SET_IN_PROGRESS)). The create step
    queues behind another run of it on the same host (a named mutex of the host, so two proxies backing up one
    host wait for each other) and, while another requester such as a backup application or Windows Server Backup
    is creating a set, tries again every 15 seconds for up to 600 seconds, then fails naming the cause.
"""
