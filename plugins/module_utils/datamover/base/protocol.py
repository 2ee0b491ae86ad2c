"""``Protocol`` for the data mover's narrow interfaces, on every Python a module may run on.

``typing.Protocol`` exists from Python 3.8; ansible-core 2.17 still runs modules on 3.7. There the
interfaces become plain base classes, which changes nothing: they only annotate, nothing inherits them.
"""

from __future__ import annotations

try:
    from typing import Protocol
except ImportError:  # pragma: no cover - Python 3.7
    Protocol = object  # type: ignore[assignment,misc]

__all__ = ["Protocol"]
