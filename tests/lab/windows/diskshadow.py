"""DiskShadow as the lab runs a script: its commands one after another, stopping at the first that fails.

DiskShadow in script mode (`diskshadow /s script.dsh`) ends the script at the first command that fails
and exits with a non-zero code: the commands before it are done, the ones after it never run
("diskshadow", https://learn.microsoft.com/windows-server/administration/windows-commands/diskshadow).
So a release that names one shadow copy that no longer exists leaves every later `delete shadows` and
`unexpose` undone. A handler builds the script as the collection's script would, as (command text, what it
does) pairs, runs it here with the host's state open for editing, and raises the failure after the state is
saved, so what the commands before the failure did stays done, as on Windows.

DiskShadow can also exit 0 having done nothing: the host's `diskshadow_no_op` estate option names commands (by
their first word, `lab.estate.host_tools.DISKSHADOW_COMMANDS`) that then report success and leave the state as it
was. The collection's scripts do not trust the exit code: after DiskShadow they compare Win32_ShadowCopy with what
they asked for and fail. The handlers model that comparison only where the script makes it (`script_checks_after`),
so removing the check from a script makes the lab report the false success the script would, and a test fails.

DiskShadow's text is in the host's display language (`display_language`, `lab.estate.display_language`): `report`
renders what it prints after `create`, and `label_read` finds an English label a script looks for that this report
does not contain. The create handler fails the request then, as the script would fail to find its id on a German
Windows; the script's text decides again, so a script that reads DiskShadow by its labels fails a test here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from typing import Any

from lab.context import SCRIPTS_DIR
from lab.estate.display_language import DISKSHADOW_LABELS

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


def report(language: str, set_id: str, shadows: Sequence[dict[str, Any]], machine: str) -> str:
    """What DiskShadow prints after `create` (verbose) in `language`, for shadows as the create script returns them
    (Alias, ShadowId, Volume, ShadowCopyShare): a share's copy is named by its shadow copy share, a volume's by
    its device."""
    labels = DISKSHADOW_LABELS[language]
    lines = [labels["alias"].format(alias=s["Alias"], id=s["ShadowId"]) for s in shadows]
    lines += [labels["set_alias"].format(set=set_id), labels["query"].format(set=set_id)]
    for number, s in enumerate(shadows, 1):
        device = s.get("ShadowCopyShare") or f"\\\\?\\GLOBALROOT\\Device\\HarddiskVolumeShadowCopy{number}"
        lines.append(labels["shadow"].format(id=s["ShadowId"], alias=s["Alias"]))
        lines.append(labels["set"].format(set=set_id))
        lines.append(labels["volume"].format(volume=s["Volume"]))
        lines.append(labels["device"].format(device=device))
        lines.append(labels["origin"].format(machine=machine))
        lines.append(labels["exposed"])
    lines.append(labels["listed"].format(count=len(shadows)))
    return "\n".join(lines)


def _label_phrases() -> list[str]:
    """Every two consecutive words of an English label's fixed text with a capital in them ("Shadow copy", "copy ID"):
    a pair of lower-case words ("shadow copy") is as likely the script's own message as a label it looks for."""
    phrases: list[str] = []
    for template in DISKSHADOW_LABELS["en-US"].values():
        fixed = re.sub(r"\{[^}]*\}|%[^%]*%", " | ", template)
        for piece in fixed.split("|"):
            words = re.findall(r"[A-Za-z_]+", piece)
            pairs = [f"{a} {b}" for a, b in zip(words, words[1:]) if not (a + b).islower()]
            phrases += [pair for pair in pairs if pair not in phrases]
    return phrases


def _code_lines(script_name: str) -> list[str]:
    """The script's lines without their comments."""
    return [line.split("#", 1)[0] for line in (SCRIPTS_DIR / f"{script_name}.ps1").read_text().splitlines()]


def label_read(script_name: str, printed: str) -> str | None:
    """An English label phrase the collection's `<script_name>.ps1` looks for in its code that `printed` (DiskShadow's
    answer on this host) does not contain, or None. Case-sensitive, as DiskShadow prints its labels."""
    code = "\n".join(_code_lines(script_name))
    for phrase in _label_phrases():
        if phrase not in printed and re.search(phrase.replace(" ", r"\s+"), code):
            return phrase
    return None


def script_checks_after(script_name: str, check: str) -> bool:
    """Whether the collection's `<script_name>.ps1` calls `check` (a function of its own) after it runs DiskShadow.

    The script's text decides, not the handler's author: a handler applies the script's comparison only while
    the script still makes it."""
    lines = _code_lines(script_name)
    called = re.compile(rf"(?<![\w-]){re.escape(check)}\b")
    runs = [
        i for i, line in enumerate(lines) if "Invoke-DiskShadow" in line and not line.lstrip().startswith("function")
    ]
    calls = [i for i, line in enumerate(lines) if called.search(line) and not line.lstrip().startswith("function")]
    return bool(runs) and any(call > runs[0] for call in calls)


def report_unread(
    script_name: str, language: str, set_id: str, shadows: Sequence[dict[str, Any]], machine: str
) -> str | None:
    """The failure of `<script_name>.ps1` when it looks for an English label its host's DiskShadow does not print."""
    phrase = label_read(script_name, report(language, set_id, shadows, machine))
    if phrase is None:
        return None
    return f"diskshadow on this {language} host printed no '{phrase}', which the script looks for in its report"


def script_queues_creation(script_name: str) -> bool:
    """Whether the collection's `<script_name>.ps1` waits on a named mutex of the host before it creates a set, so
    its own runs on one host queue instead of refusing each other."""
    return any("System.Threading.Mutex" in line for line in _code_lines(script_name))


def creation_attempts(script_name: str, timeout_seconds: Any) -> int:
    """How many times `<script_name>.ps1` runs DiskShadow's create while VSS answers VSS_E_SNAPSHOT_SET_IN_PROGRESS:
    1 when the script does not look for that failure; else one, then one more every `$InProgressRetrySeconds` of
    its code until `timeout_seconds` (its bound -InProgressTimeoutSeconds) have passed."""
    code = "\n".join(_code_lines(script_name))
    step = re.search(r"\$InProgressRetrySeconds\s*=\s*(\d+)", code)
    if "80042316" not in code or step is None or not isinstance(timeout_seconds, int) or int(step[1]) <= 0:
        return 1
    return 1 + max(timeout_seconds, 0) // int(step[1])
