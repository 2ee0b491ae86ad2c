"""Argument spec of ``backup.hyperv.data_mover``, shared by the module and its action plugin.

The module (run on a Linux data mover host or the controller) and the action plugin (which runs the
data mover installed on a Windows proxy) must accept exactly the same options, so both import them
from here. The options are documented in plugins/modules/data_mover.py; their defaults and choices are
the options object's (settings.py, run/values.py), which takes them from store/constants.py.
"""

from __future__ import annotations

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.query import GuestQuery
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import (
    Chunking,
    NewRepository,
    RepositoryAccess,
    RestoreEntry,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.settings import OPERATIONS, DataMoverOptions
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.shadow_copy_options import imported_set_spec
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    COMPRESSION_LEVELS,
    ENCRYPTIONS,
    HASH_ALGORITHMS,
    KDFS,
    RESTORE_FORMATS,
)

ARGUMENT_SPEC = {
    "operation": {"type": "str", "required": True, "choices": list(OPERATIONS)},
    "repository": {"type": "path", "required": True},
    "vm": {"type": "str"},
    "source": {"type": "list", "elements": "path"},
    "restore_point": {"type": "str", "default": RestoreEntry.restore_point},
    "destination": {"type": "path"},
    "format": {"type": "str", "choices": list(RESTORE_FORMATS), "default": RestoreEntry.format},
    "changed_ranges": {"type": "dict"},
    "change_ids": {"type": "dict"},
    "parents": {"type": "dict"},
    "block_size": {"type": "raw", "default": Chunking.block_size},
    "compression": {"type": "str", "choices": list(COMPRESSION_LEVELS), "default": Chunking.compression},
    "hash": {"type": "str", "choices": list(HASH_ALGORITHMS), "default": NewRepository.hash},
    "encryption": {"type": "str", "choices": list(ENCRYPTIONS)},
    "passphrase": {"type": "str", "no_log": True},
    "kdf": {"type": "str", "choices": list(KDFS), "default": NewRepository.kdf},
    "keep_last": {"type": "int"},
    "force": {"type": "bool", "default": DataMoverOptions.force},
    "lock_timeout": {"type": "float", "default": RepositoryAccess.lock_timeout},
    "overwrite": {"type": "bool", "default": RestoreEntry.overwrite},
    "salvage": {"type": "bool", "default": RestoreEntry.salvage},
    "rollback": {"type": "bool", "default": RestoreEntry.rollback},
    "restore_points": {"type": "list", "elements": "str"},  # forget
    "workers": {"type": "int"},
    "jobs": {"type": "list", "elements": "dict"},
    "slots": {"type": "int", "default": DataMoverOptions.slots},
    "vms": {"type": "list", "elements": "str"},
    "disk": {"type": "str"},  # ls, find, restore_file: the guest's volume and path (guest/query.py)
    "partition": {"type": "int"},
    "path": {"type": "str", "default": GuestQuery.path},
    "pattern": {"type": "str"},
    "smb_username": {"type": "str"},  # restore_file to a UNC destination through SMB (guest/targets.py)
    "smb_password": {"type": "str", "no_log": True},
    "smb_port": {"type": "int", "default": GuestQuery.smb_port},
    "component": {"type": "str"},  # a Windows proxy's data mover (the action plugin); the engine ignores it
    # a Windows proxy's job server (the action plugin): seconds it stays after the job; left out, 0 (no server is
    # started: data_mover_job.py); the engine ignores it
    "server_idle": {"type": "int"},
    # a Windows proxy (the action plugin): a transportable shadow copy set imported before the job and released after
    # it, in the same task; the engine ignores it
    "shadow_copy": imported_set_spec(),
}

# One VM (vm with source or destination) or several (jobs): the engine checks each job entry itself.
VALIDATION = {
    "required_if": [
        ("operation", "backup", ("source", "jobs"), True),
        ("operation", "restore", ("destination", "jobs"), True),
        ("operation", "prune", ("keep_last",)),
        ("operation", "forget", ("restore_points",)),
        ("operation", "find", ("pattern",)),
        ("operation", "restore_file", ("destination",)),
    ],
    "required_by": {"source": ("vm",), "destination": ("vm",)},
    "mutually_exclusive": [
        ("jobs", "vm"),
        ("jobs", "source"),
        ("jobs", "destination"),
        ("jobs", "changed_ranges"),
        ("jobs", "change_ids"),
        ("jobs", "parents"),
    ],
}
