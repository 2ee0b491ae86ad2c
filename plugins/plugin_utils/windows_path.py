"""Windows paths in task options: refuse, before any round trip, what Windows would refuse or quietly change.

The rules are those of Microsoft's "Naming Files, Paths, and Namespaces"
(https://learn.microsoft.com/windows/win32/fileio/naming-a-file), section "Naming Conventions":

* no character 0-31 anywhere in a path. These are what ``-e key=value`` makes of backslashes:
  Ansible decodes ``\\a \\b \\t \\n \\v \\f \\r`` in key=value text (``ansible.parsing.splitter``),
  so ``C:\\Restore\\vm1`` reaches the module as ``C:\\Restore<vertical tab>m1``;
* none of ``< > : " | ? *`` in a name; the colon only as the drive separator (``C:``), and the
  ``?`` only in the ``\\\\?\\`` and ``\\\\?\\UNC\\`` prefixes;
* no name ending in a space or a period: Windows' path normalisation strips them, so the host
  would use another name than the task says (the page: "Do not end a file or directory name
  with a space or a period");
* no reserved device name (CON, PRN, AUX, NUL, COM1-COM9, LPT1-LPT9, and COM¹-COM³, LPT¹-LPT³ as
  the page lists them), alone or followed by an extension (``NUL.txt`` is ``NUL``): Windows opens
  the device, not a file.

``/`` is a separator where the Win32 file functions convert it to ``\\`` (the page, "Namespaces"), but
not after ``\\\\?\\``, which turns that conversion off; an option whose module builds or compares paths
with ``\\`` itself refuses it (``forward_slashes=False``).

Words: the *prefix* is what comes before the first name (``C:\\``, ``\\\\server\\share\\``, ``\\\\?\\C:\\``,
``\\\\?\\UNC\\server\\share\\``); a *name* is one component between separators.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

RESERVED_CHARACTERS = '<>:"|?*'
_DEVICE_STEMS = ("CON", "PRN", "AUX", "NUL")
_NUMBERED_DEVICES = ("COM", "LPT")
DEVICE_NAMES = frozenset(
    [*_DEVICE_STEMS]
    + [f"{stem}{digit}" for stem in _NUMBERED_DEVICES for digit in (*"123456789", "\u00b9", "\u00b2", "\u00b3")]
)
# The control characters -e key=value makes of a backslash and a letter (ansible.parsing.splitter).
KEY_VALUE_ESCAPES = {"\a": "a", "\b": "b", "\t": "t", "\n": "n", "\v": "v", "\f": "f", "\r": "r"}
_CONTROL_NAMES = {
    "\x00": "NUL",
    "\a": "bell",
    "\b": "backspace",
    "\t": "tab",
    "\n": "line feed",
    "\v": "vertical tab",
    "\f": "form feed",
    "\r": "carriage return",
}
_LONG = re.compile(r"^\\\\\?\\(?P<rest>.*)$", re.DOTALL)  # \\?\ and \\?\UNC\ (its names: UNC, server, share...)
_DEVICE_NAMESPACE = re.compile(r"^[\\/]{2}\.[\\/]")
_DRIVE = re.compile(r"^[A-Za-z]:")
_EXAMPLE_VARIABLE = "VARIABLE"
_PAGE = "Microsoft: Naming Files, Paths, and Namespaces"


class WindowsPathError(ValueError):
    """A path option Windows would refuse or change; the message names the option and the fix."""


@dataclass(frozen=True)
class _Parsed:
    """A path split into the names after its prefix; ``absolute`` when it does not depend on a current folder."""

    names: tuple[str, ...]
    absolute: bool


def check_windows_path(option: str, path: object, *, absolute: bool = False, forward_slashes: bool = True) -> str:
    """``path`` unchanged when Windows takes it as written; raises WindowsPathError naming ``option`` otherwise.

    ``absolute`` also requires a drive or UNC path; ``forward_slashes=False`` refuses ``/``.
    """
    if not isinstance(path, str) or not path:
        raise WindowsPathError(f"{option}: a Windows path is required, got {path!r}")
    _refuse_control_characters(option, path, forward_slashes)
    parsed = _parse(option, path, forward_slashes)
    for name in parsed.names:
        _check_name(option, path, name)
    if absolute and not parsed.absolute:
        raise WindowsPathError(_not_absolute_message(option, path))
    return path


def check_windows_paths(option: str, paths: Iterable[object], **rules: bool) -> list[str]:
    """``check_windows_path`` for each entry of a list option, naming the entry (``source[1]``)."""
    return [check_windows_path(f"{option}[{index}]", path, **rules) for index, path in enumerate(paths)]


def check_windows_name(option: str, name: object) -> str:
    """One file or folder name (no separators): the rules for a name of a path."""
    if not isinstance(name, str) or not name or name in (".", ".."):
        raise WindowsPathError(f"{option}: a file or folder name is required, got {name!r}")
    _refuse_control_characters(option, name, forward_slashes=False)
    for separator in "\\/":
        if separator in name:
            raise WindowsPathError(f"{option}: {_shown(name)} is one name and cannot hold {separator!r}")
    _check_name(option, name, name)
    return name


def _refuse_control_characters(option: str, path: str, forward_slashes: bool) -> None:
    control = next((char for char in path if ord(char) < 32), None)
    if control is None:
        return
    raise WindowsPathError(
        f"{option}: the path {_shown(path)} holds {_escaped(control)} ({_describe(control)}); Windows allows no "
        f"control character (0-31) in a path ({_PAGE}), so nothing was sent to the host. "
        + _safe_ways(_as_typed(path), forward_slashes)
    )


def _describe(char: str) -> str:
    name = _CONTROL_NAMES.get(char, "a control character")
    letter = KEY_VALUE_ESCAPES.get(char)
    if letter is None:
        return name
    return f"{name}, what \\{letter} becomes when a path is passed as -e key=value"


def _as_typed(path: str) -> str:
    """The path as it was most likely written before key=value decoded its escapes."""
    return "".join(f"\\{KEY_VALUE_ESCAPES[char]}" if char in KEY_VALUE_ESCAPES else char for char in path)


def _safe_ways(path: str, forward_slashes: bool) -> str:
    """How to pass ``path`` so that Ansible keeps its backslashes (shown with the path itself)."""
    json_path = path.replace("\\", "\\\\")
    ways = (
        f"If you meant {path}, pass it where Ansible keeps backslashes: in a vars file "
        f"(-e @vars.yml holding {_EXAMPLE_VARIABLE}: '{path}', in single quotes), "
        f'or as JSON in single quotes (-e \'{{"{_EXAMPLE_VARIABLE}": "{json_path}"}}\')'
    )
    if forward_slashes and not _LONG.match(path):
        ways += f", or with forward slashes ({path.replace(chr(92), '/')})"
    return ways + "."


def _parse(option: str, path: str, forward_slashes: bool) -> _Parsed:
    """The names after the prefix; raises for the device namespace and for '/' where it is no separator."""
    if _DEVICE_NAMESPACE.match(path):
        raise WindowsPathError(f"{option}: {_shown(path)} is in the device namespace (\\\\.\\), not a file path")
    long = _LONG.match(path)
    if long is not None:
        rest = long["rest"]
        if "/" in rest:
            raise WindowsPathError(
                f"{option}: {_shown(path)} mixes '/' into a \\\\?\\ path, where Windows does not convert it "
                f"to '\\' ({_PAGE}); write backslashes only"
            )
        return _Parsed(_split(rest[2:] if _DRIVE.match(rest) else rest), absolute=True)
    if not forward_slashes and "/" in path:
        raise WindowsPathError(f"{option}: {_shown(path)} holds '/'; this option takes backslashes only (C:\\...)")
    separators = "\\/" if forward_slashes else "\\"
    if len(path) > 1 and path[0] in separators and path[1] in separators:  # \\server\share\...
        names = _split(path[2:], separators)
        return _Parsed(names, absolute=len(names) >= 2)  # a server alone names no folder
    if _DRIVE.match(path):
        rest = path[2:]
        return _Parsed(_split(rest, separators), absolute=rest[:1] in tuple(separators))
    return _Parsed(_split(path, separators), absolute=False)


def _split(rest: str, separators: str = "\\") -> tuple[str, ...]:
    names = re.split("[" + re.escape(separators) + "]", rest)
    return tuple(name for name in names if name not in ("", ".", ".."))


def _check_name(option: str, path: str, name: str) -> None:
    reserved = next((char for char in name if char in RESERVED_CHARACTERS), None)
    if reserved == ":":
        raise WindowsPathError(
            f"{option}: {_shown(path)} holds ':' in the name {name!r}; Windows allows a colon only after the "
            f"drive letter (C:) ({_PAGE})"
        )
    if reserved is not None:
        raise WindowsPathError(
            f"{option}: {_shown(path)} holds {reserved!r} in the name {name!r}; Windows allows none of "
            f"{RESERVED_CHARACTERS} in a file or folder name ({_PAGE})"
        )
    if name[-1] in " .":
        kind = "a space" if name[-1] == " " else "a period"
        raise WindowsPathError(
            f"{option}: the name {name!r} in {_shown(path)} ends in {kind}, which Windows removes, so the host "
            f"would use {name.rstrip(' .')!r} ({_PAGE}); remove it"
        )
    stem = name.split(".", 1)[0].rstrip(" ").upper()
    if stem in DEVICE_NAMES:
        raise WindowsPathError(
            f"{option}: the name {name!r} in {_shown(path)} is the reserved device name {stem}, which Windows "
            f"opens as a device, not a file, also with an extension ({_PAGE}); choose another name"
        )


def _not_absolute_message(option: str, path: str) -> str:
    message = f"{option}: {path!r} must be an absolute Windows path (C:\\... or \\\\server\\share)"
    if path.startswith("\\") and not path.startswith("\\\\"):
        # -e key=value decodes "\\" to "\": a UNC path arrives with one leading backslash.
        message += "; a UNC path passed as -e key=value loses one of its leading backslashes. " + _safe_ways(
            "\\" + path, forward_slashes=True
        )
    return message


def _escaped(char: str) -> str:
    return f"\\x{ord(char):02x}"


def _shown(path: str) -> str:
    """The path in quotes, its control characters as ``\\xNN`` (the rest as written, backslashes single)."""
    return "'" + "".join(_escaped(char) if ord(char) < 32 else char for char in path) + "'"
