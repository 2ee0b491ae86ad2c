"""The code of a collection script as the lab's handlers read it to decide what Windows would make of it."""

from __future__ import annotations

from lab.context import SCRIPTS_DIR


def code(script_name: str) -> str:
    """The collection's `<script_name>.ps1` (from SCRIPTS_DIR, which a test may point at a changed copy) without
    its comments."""
    lines = (SCRIPTS_DIR / f"{script_name}.ps1").read_text().splitlines()
    return "\n".join(line.split("#", 1)[0] for line in lines)
