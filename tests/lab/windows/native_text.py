"""What `vssadmin list providers`, `sc.exe qfailure` and `nltest /domain_trusts` print on a host whose display
language is not English, and whether a collection script still runs them.

Windows translates these tools' words with the display language (`lab.estate.display_language`); a script that
reads them by their English words finds nothing on a German host. The collection's scripts read the same facts
from language-independent sources instead (Win32_ShadowProvider, the service's FailureActions registry value,
DsEnumerateDomainTrustsW). A handler asks `runs` of the script's own text, and answers as the tool would, in the
host's language, while the script still runs the tool; so a script that goes back to the tool fails a test here.
"""

from __future__ import annotations

import re

from lab.estate.display_language import DEFAULT, NATIVE_TOOL_LABELS
from lab.windows.script_code import code

# How a script runs each tool, in its code.
_RUNS = {
    "vssadmin": re.compile(r"vssadmin(?:\.exe)?['\"]?\s+list\s+providers", re.IGNORECASE),
    "qfailure": re.compile(r"\bsc(?:\.exe)?['\"]?\s+qfailure\b", re.IGNORECASE),
    "nltest": re.compile(r"\bnltest(?:\.exe)?\b", re.IGNORECASE),
}


def runs(script_name: str, tool: str) -> bool:
    """Whether the collection's `<script_name>.ps1` runs `tool` (a key of NATIVE_TOOL_LABELS)."""
    return _RUNS[tool].search(code(script_name)) is not None


def printed(text: str, tool: str, language: str) -> str:
    """`text`, the tool's English output, as a host in `language` prints it."""
    if language == DEFAULT:
        return text
    for english, translated in NATIVE_TOOL_LABELS[tool].items():
        text = text.replace(english, translated)
    return text


def unread_label(script_name: str, tool: str, text: str) -> str | None:
    """An English phrase of `tool` the script's code looks for that `text` (the tool's output) lacks, or None."""
    script = code(script_name)
    for english in NATIVE_TOOL_LABELS[tool]:
        if english.rstrip(":") in script and english not in text:
            return english
    return None
