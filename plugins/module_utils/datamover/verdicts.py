"""Whether an operation's reply says damage was found: one rule for the module, the command line and a Windows proxy.

``verify``, ``list`` and ``prune`` do all they safely can and then say whether they met damage (``ok`` false):
the task fails with the whole reply and this message, and the command line exits with status 3
(docs/datamover.md, "Failure and repair").
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

EXIT_DAMAGE = 3
_DAMAGE_FOUND = {
    "verify": "verification found damage",
    "list": "list found damaged restore point records",
    "prune": "prune found damaged restore points (kept, with their chunks; see damaged)",
}


def damage_found(operation: str, reply: Mapping[str, Any], repository: str) -> Optional[str]:
    """The failure message when ``reply`` of ``operation`` says damage was found, else None."""
    if operation in _DAMAGE_FOUND and not reply.get("ok", True):
        return f"{_DAMAGE_FOUND[operation]} in {repository}"
    return None
