"""What a native tool prints on a host whose Windows display language is not English.

Windows translates the text of its command-line tools with the display language: a German Windows Server's
DiskShadow prints "Schattenkopie-ID" where an English one prints "Shadow copy ID". Ids, paths and share names are
not translated. The collection's scripts must read a tool's answer by the shape of what it names (a GUID in braces,
a `\\\\server\\share@{GUID}` path) or ask WMI, never by a label. A host's `display_language` estate option picks a
label set below; the lab's DiskShadow report is rendered with it (`lab.windows.diskshadow.report`).

The German labels are the lab's own translation, written to differ from the English ones where Windows' do; they
are not copied from a German Windows and a real one may word them differently.
"""

from __future__ import annotations

DEFAULT = "en-US"

# DiskShadow's report after `create` (set verbose on), by line; `{…}` fields are filled in by `diskshadow.report`.
DISKSHADOW_LABELS: dict[str, dict[str, str]] = {
    "en-US": {
        "alias": "Alias {alias} for shadow ID {id} set as environment variable.",
        "set_alias": "Alias VSS_SHADOW_SET for shadow set ID {set} set as environment variable.",
        "query": "Querying all shadow copies with the shadow copy set ID {set}",
        "shadow": "\t* Shadow copy ID = {id}\t\t%{alias}%",
        "set": "\t\t- Shadow copy set: {set}\t\t%VSS_SHADOW_SET%",
        "volume": "\t\t- Original volume name: {volume}",
        "device": "\t\t- Shadow copy device name: {device}",
        "origin": "\t\t- Originating machine: {machine}",
        "exposed": "\t\t- Not exposed",
        "listed": "Number of shadow copies listed: {count}",
    },
    "de-DE": {
        "alias": "Alias {alias} für Schattenkopie-ID {id} als Umgebungsvariable festgelegt.",
        "set_alias": "Alias VSS_SHADOW_SET für Schattenkopiesatz-ID {set} als Umgebungsvariable festgelegt.",
        "query": "Alle Schattenkopien mit der Schattenkopiesatz-ID {set} werden abgefragt.",
        "shadow": "\t* Schattenkopie-ID = {id}\t\t%{alias}%",
        "set": "\t\t- Schattenkopiesatz: {set}\t\t%VSS_SHADOW_SET%",
        "volume": "\t\t- Ursprünglicher Volumename: {volume}",
        "device": "\t\t- Gerätename der Schattenkopie: {device}",
        "origin": "\t\t- Ursprungscomputer: {machine}",
        "exposed": "\t\t- Nicht verfügbar gemacht",
        "listed": "Anzahl aufgelisteter Schattenkopien: {count}",
    },
}
LANGUAGES = tuple(DISKSHADOW_LABELS)

# Other native tools: an English phrase of their output and the lab's German for it (`lab.windows.native_text`).
# The words a script might look for; ids, names, numbers and attribute keywords are not translated.
NATIVE_TOOL_LABELS: dict[str, dict[str, str]] = {
    "vssadmin": {"Provider name:": "Anbietername:", "Provider type:": "Anbietertyp:", "Provider Id:": "Anbieter-ID:"},
    "qfailure": {
        "RUN PROCESS": "PROZESS AUSFÜHREN",
        "REBOOT": "COMPUTERNEUSTART",
        "RESTART": "NEUSTART",
        "Delay": "Verzögerung",
        "milliseconds": "Millisekunden",
    },
    "nltest": {
        "List of domain trusts:": "Liste der Domänenvertrauensstellungen:",
        "(Direct Outbound)": "(Direkt ausgehend)",
        "(Direct Inbound)": "(Direkt eingehend)",
        "(Primary Domain)": "(Primäre Domäne)",
        "(Forest Tree Root)": "(Gesamtstrukturstamm)",
        "(Native)": "(Systemeigen)",
        "The command completed successfully": "Der Befehl wurde erfolgreich ausgeführt.",
    },
}
