"""DiskShadow as the lab runs a script: its commands one after another, stopping at the first that fails.

DiskShadow in script mode (`diskshadow /s script.dsh`) ends the script at the first command that fails
and exits with a non-zero code: the commands before it are done, the ones after it never run
("diskshadow", https://learn.microsoft.com/windows-server/administration/windows-commands/diskshadow).
So a release that names one shadow copy that no longer exists leaves every later `delete shadows` and
`unexpose` undone. A handler builds the script as the collection's script would, as (command text, what it
does) pairs, runs it here with the host's state open for editing, and raises the failure after the state is
saved, so what the commands before the failure did stays done, as on Windows.

DiskShadow can also exit 0 having done nothing: the host's `diskshadow_no_op` estate option names commands (by
their first word, `lab.estate.hosts.DISKSHADOW_COMMANDS`) that then report success and leave the state as it
was. The collection's scripts do not trust the exit code: after DiskShadow they compare Win32_ShadowCopy with what
they asked for and fail. The handlers model that comparison only where the script makes it (`script_checks_after`),
so removing the check from a script makes the lab report the false success the script would, and a test fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence

from lab.context import SCRIPTS_DIR

Command = tuple[str, Callable[[], None]]


class CommandFailed(Exception):
    """One DiskShadow command failed; the message is what DiskShadow prints."""


def run(commands: Sequence[Command], no_op: Collection[str] = ()) -> str | None:
    """Run the commands in order; the message of the first failure (the rest are not run), or None.

    A command whose first word is in `no_op` succeeds without doing anything."""
    for text, command in commands:
        if text.split(" ", 1)[0] in no_op:
            continue
        try:
            command()
        except CommandFailed as failure:
            return f"{failure} (command: {text})"
    return None


def not_found(shadow_id: str) -> CommandFailed:
    return CommandFailed(f"The shadow copy ID {shadow_id} was not found.")


def not_exposed(path: str) -> CommandFailed:
    return CommandFailed(f"The path {path} is not an exposed shadow copy.")


def script_checks_after(script_name: str, check: str) -> bool:
    """Whether the collection's `<script_name>.ps1` calls `check` (a function of its own) after it runs DiskShadow.

    The script's text decides, not the handler's author: a handler applies the script's comparison only while
    the script still makes it."""
    lines = [line.split("#", 1)[0] for line in (SCRIPTS_DIR / f"{script_name}.ps1").read_text().splitlines()]
    called = re.compile(rf"(?<![\w-]){re.escape(check)}\b")
    runs = [
        i for i, line in enumerate(lines) if "Invoke-DiskShadow" in line and not line.lstrip().startswith("function")
    ]
    calls = [i for i, line in enumerate(lines) if called.search(line) and not line.lstrip().startswith("function")]
    return bool(runs) and any(call > runs[0] for call in calls)
