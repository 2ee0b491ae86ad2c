"""Options that name a transportable shadow copy set on the proxy, shared by ``backup.hyperv.shadow_copy`` and the
``shadow_copy`` option of ``backup.hyperv.data_mover``: both modules accept the same shape. Here, beside
``argspec``, because the data mover's argument spec ships with its Python module and in the proxy's engine
package (``datamover.pyz``, tools/proxy_package.py), which carries this folder only."""

from __future__ import annotations

from typing import Any, Dict

# Where the source host keeps a set's metadata and the proxy exposes its copies (<root>\<set>\<alias>).
DEFAULT_ROOT = "C:\\ProgramData\\backup.hyperv\\shadow"

# Each copy of the set as shadow_copy state=present returns it: its id and DiskShadow alias, and (ignored here)
# the source volume and where the proxy reads it.
SHADOW_COPY_ENTRY = {
    "shadow_id": {"type": "str", "required": True},
    "alias": {"type": "str", "required": True},
    "volume": {"type": "str"},
    "exposed_path": {"type": "str"},
}


def shadow_copies_spec() -> Dict[str, Any]:
    return {"type": "list", "elements": "dict", "options": dict(SHADOW_COPY_ENTRY)}


def imported_set_spec() -> Dict[str, Any]:
    """The data mover's ``shadow_copy``: a set to import before the job and release after it."""
    return {
        "type": "dict",
        "options": {
            "snapshot_set_id": {"type": "str", "required": True},
            "metadata": {"type": "str", "required": True},
            "shadow_copies": {**shadow_copies_spec(), "required": True},
            "expose_root": {"type": "str", "default": DEFAULT_ROOT},
        },
    }
