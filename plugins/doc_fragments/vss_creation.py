"""Documentation of how the modules that create a shadow copy set wait for VSS on the source host.

The rule is ``plugins/plugin_utils/scripts/shadow_copy_create.ps1`` (its host mutex, ``$InProgressRetrySeconds``
and ``-InProgressTimeoutSeconds``, which the option sets); this fragment documents that rule and the option's
default (``shadow_copy_argument_spec``), so they change together.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  vss_wait_timeout:
    description:
      - Seconds the creation of a set waits on the source host for another creation to end (C(state=present)).
      - VSS creates one shadow copy set at a time on a host; another requester gets
        C(VSS_E_SNAPSHOT_SET_IN_PROGRESS). The create step queues behind another run of it on the same host (a named
        mutex of the host, so two proxies backing up one host wait for each other) and, while another requester
        such as a backup application or Windows Server Backup is creating a set, tries again every 15 seconds, each
        for up to this many seconds; then the task fails naming the cause.
      - C(0) waits for nothing and fails at the first refusal.
    type: int
    default: 600
"""
