"""check_windows_path: the rules of Microsoft's "Naming Files, Paths, and Namespaces", one row each.

https://learn.microsoft.com/windows/win32/fileio/naming-a-file ("Naming Conventions", "Namespaces").
"""

from __future__ import annotations

import json

import pytest
import yaml
from ansible.parsing.splitter import parse_kv

from ansible_collections.backup.hyperv.plugins.plugin_utils.windows_path import (
    WindowsPathError,
    check_windows_name,
    check_windows_path,
    check_windows_paths,
)

ACCEPTED = [
    "C:\\Restore\\vm1",
    "C:\\Program Files\\backup.hyperv\\DataMover",  # spaces and periods inside a name
    "C:\\",
    "c:/Restore/vm1",  # the Win32 file functions convert '/' to '\'
    "\\\\fs1\\vms\\vm3\\vm3.vhdx",  # UNC
    "\\\\fs1\\vms@{3f2a9c1e-0000-4000-8000-000000000001}\\vm3.vhdx",  # a shadow copy share
    "\\\\?\\C:\\Restore\\vm1",  # the long-path prefix: its '?' is no wildcard
    "\\\\?\\UNC\\fs1\\vms\\vm3.vhdx",
    "\\\\?\\GLOBALROOT\\Device\\HarddiskVolumeShadowCopy3\\vm1.vhdx",
    "C:\\Restore\\.\\vm1\\..\\vm2",  # '.' and '..' are names of the current and parent folder
    "C:\\Data\\CONSOLE\\NULL.txt\\COM10",  # only the exact device names are reserved
    "C:\\Data\\résumé\\日本",  # any Unicode character but the reserved ones
]

REFUSED = [
    # (path, words the message must hold)
    ("C:\\Restore\x0bm1", "\\x0b (vertical tab, what \\v becomes when a path is passed as -e key=value)"),
    ("C:\\Restore\r", "\\x0d (carriage return, what \\r becomes"),
    ("C:\\Temp\x00x", "\\x00 (NUL)"),
    ("C:\\Temp\x1fx", "\\x1f (a control character)"),
    ("C:\\a<b", "holds '<' in the name 'a<b'"),
    ("C:\\a>b", "holds '>'"),
    ('C:\\a"b', "holds '\"'"),
    ("C:\\a|b", "holds '|'"),
    ("C:\\a?b", "holds '?'"),
    ("C:\\a*b", "holds '*'"),
    ("C:\\data:stream", "Windows allows a colon only after the drive letter"),
    ("C::\\x", "Windows allows a colon only after the drive letter"),
    ("\\\\?\\C:\\a*b", "holds '*'"),
    ("C:\\Restore.\\vm1", "the name 'Restore.' in 'C:\\Restore.\\vm1' ends in a period"),
    ("C:\\Restore ", "ends in a space, which Windows removes, so the host would use 'Restore'"),
    ("C:\\Restore\\NUL", "reserved device name NUL"),
    ("C:\\Restore\\con.txt", "reserved device name CON"),
    ("C:\\Restore\\lpt9.tar.gz", "reserved device name LPT9"),
    ("C:\\Restore\\COM\u00b9", "reserved device name COM\u00b9"),
    ("\\\\.\\PhysicalDrive0", "device namespace"),
    ("\\\\?\\C:\\Restore/vm1", "where Windows does not convert it"),
]


@pytest.mark.parametrize("path", ACCEPTED)
def test_a_path_windows_takes_as_written_is_returned_unchanged(path):
    assert check_windows_path("destination", path) == path


@pytest.mark.parametrize(("path", "words"), REFUSED)
def test_a_path_windows_refuses_or_changes_fails_naming_the_option(path, words):
    with pytest.raises(WindowsPathError) as error:
        check_windows_path("destination", path)
    assert str(error.value).startswith("destination: ")
    assert words in str(error.value)
    assert "Naming Files, Paths, and Namespaces" in str(error.value) or "device namespace" in str(error.value)


def test_a_control_character_shows_the_path_escaped_and_the_safe_ways_to_pass_it():
    mangled = parse_kv("restore_dir=C:\\Restore\\vm1")["restore_dir"]  # what the user hit
    assert mangled == "C:\\Restore\x0bm1"
    with pytest.raises(WindowsPathError) as error:
        check_windows_path("destination", mangled)
    message = str(error.value)
    assert "'C:\\Restore\\x0bm1'" in message and "\x0b" not in message
    assert "If you meant C:\\Restore\\vm1" in message
    assert "-e @vars.yml holding VARIABLE: 'C:\\Restore\\vm1'" in message
    assert '-e \'{"VARIABLE": "C:\\\\Restore\\\\vm1"}\'' in message
    assert "forward slashes (C:/Restore/vm1)" in message


def test_the_safe_ways_the_message_shows_keep_the_backslashes():
    with pytest.raises(WindowsPathError) as error:
        check_windows_path("destination", "C:\\Restore\x0bm1")
    message = str(error.value)
    json_text = message.split("-e '", 1)[1].split("'", 1)[0]
    assert json.loads(json_text) == {"VARIABLE": "C:\\Restore\\vm1"}
    yaml_line = message.split("holding ", 1)[1].split(", in single quotes", 1)[0]
    assert yaml.safe_load(yaml_line) == {"VARIABLE": "C:\\Restore\\vm1"}


def test_forward_slashes_are_refused_where_the_option_takes_backslashes_only():
    with pytest.raises(WindowsPathError, match="takes backslashes only"):
        check_windows_path("expose_root", "C:/ProgramData/shadow", forward_slashes=False)
    with pytest.raises(WindowsPathError) as error:
        check_windows_path("expose_root", "C:\\Shadow\x0bm1", forward_slashes=False)
    assert "forward slashes" not in str(error.value)


@pytest.mark.parametrize("path", ["repo", "Restore\\vm1", "C:Restore", "\\Restore", "\\\\fs1"])
def test_absolute_refuses_a_path_that_depends_on_a_current_folder(path):
    check_windows_path("repository", path)  # fine when the option need not be absolute
    with pytest.raises(WindowsPathError, match=r"must be an absolute Windows path"):
        check_windows_path("repository", path, absolute=True)


def test_a_unc_path_that_lost_a_backslash_to_key_value_says_how_to_pass_it():
    mangled = parse_kv("repo=\\\\fs1\\share")["repo"]
    assert mangled == "\\fs1\\share"
    with pytest.raises(WindowsPathError) as error:
        check_windows_path("repository", mangled, absolute=True)
    assert "loses one of its leading backslashes" in str(error.value)
    assert "If you meant \\\\fs1\\share" in str(error.value)


@pytest.mark.parametrize("value", [None, "", 3])
def test_a_missing_path_is_refused(value):
    with pytest.raises(WindowsPathError, match="a Windows path is required"):
        check_windows_path("destination", value)


def test_a_list_option_names_the_entry():
    with pytest.raises(WindowsPathError, match=r"^source\[1\]: "):
        check_windows_paths("source", ["C:\\VMs\\a.vhdx", "C:\\VMs\\b\x08.vhdx"])


@pytest.mark.parametrize(
    ("name", "words"), [("Vol1", None), ("Vol\\1", "cannot hold"), ("a:b", "colon"), ("..", "required")]
)
def test_a_name_is_one_component(name, words):
    if words is None:
        assert check_windows_name("alias", name) == name
    else:
        with pytest.raises(WindowsPathError, match=words):
            check_windows_name("alias", name)


PAGE_DEVICE_NAMES = ["CON", "PRN", "AUX", "NUL"] + [
    f"{s}{n}" for s in ("COM", "LPT") for n in "123456789\u00b9\u00b2\u00b3"
]


@pytest.mark.parametrize("device", PAGE_DEVICE_NAMES)
def test_every_device_name_the_page_lists_is_refused_alone_and_with_an_extension(device):
    for name in (device, device.lower(), f"{device}.txt"):
        with pytest.raises(WindowsPathError, match=f"reserved device name {device}"):
            check_windows_path("destination", f"C:\\Data\\{name}")
