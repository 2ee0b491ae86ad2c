"""Argument spec of ``backup.hyperv.data_mover``, shared by the module and its action plugin.

The module (run on a Linux data mover host or the controller) and the action plugin (which runs the
data mover installed on a Windows proxy) must accept exactly the same options, so both import them
from here. The options are documented in plugins/modules/data_mover.py.
"""

from __future__ import annotations

OPERATIONS = ("backup", "restore", "verify", "list", "prune")

ARGUMENT_SPEC = {
    "operation": {"type": "str", "required": True, "choices": list(OPERATIONS)},
    "repository": {"type": "path", "required": True},
    "vm": {"type": "str"},
    "source": {"type": "list", "elements": "path"},
    "restore_point": {"type": "str", "default": "latest"},
    "destination": {"type": "path"},
    "format": {"type": "str", "choices": ["vhdx", "raw"], "default": "vhdx"},
    "changed_ranges": {"type": "dict"},
    "block_size": {"type": "raw", "default": "1M"},
    "compression": {"type": "str", "choices": ["none", "fast", "default", "high"], "default": "default"},
    "hash": {"type": "str", "choices": ["blake3", "sha256"], "default": "blake3"},
    "encryption": {"type": "str", "choices": ["none", "aes-256-gcm", "chacha20-poly1305"]},
    "passphrase": {"type": "str", "no_log": True},
    "kdf": {"type": "str", "choices": ["scrypt", "argon2id"], "default": "scrypt"},
    "keep_last": {"type": "int"},
    "lock_timeout": {"type": "float", "default": 0},
    "overwrite": {"type": "bool", "default": False},
    "workers": {"type": "int"},
    "jobs": {"type": "list", "elements": "dict"},
}

# One VM (vm with source or destination) or several (jobs): the engine checks each job entry itself.
VALIDATION = {
    "required_if": [
        ("operation", "backup", ("source", "jobs"), True),
        ("operation", "restore", ("destination", "jobs"), True),
        ("operation", "prune", ("keep_last",)),
    ],
    "required_by": {"source": ("vm",), "destination": ("vm",)},
    "mutually_exclusive": [("jobs", "vm"), ("jobs", "source"), ("jobs", "destination"), ("jobs", "changed_ranges")],
}
