"""The lab's pure parts: estate loading, host paths, command-line decoding."""

from __future__ import annotations

import base64

import pytest
from lab.estate.fields import EstateError
from lab.estate.loader import parse_estate
from lab.recognise import input_lines, normalise, split_command_line
from lab.windows.hostfs import HostFileSystem, HostPathError, InvalidNameError, expand_variables

HOST = {"name": "hv1", "address": "127.0.0.21", "credentials": {"username": "u", "password": "p"}}


def test_estate_keeps_facts_and_other_sections():
    estate = parse_estate({"hosts": [{**HOST, "facts": {"build": 20348}}], "clusters": [{"name": "CL1"}]})
    assert estate.host("hv1").facts == {"build": 20348} and estate.host("hv1").connection == "winrm"
    assert estate.extra == {"clusters": [{"name": "CL1"}]}


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        ([HOST, {**HOST, "name": "hv2"}], "share a address"),
        ([HOST, {**HOST, "address": "127.0.0.22"}], "share a name"),
        ([{**HOST, "connection": "ssh"}], "connection must be one of"),
        ([{**HOST, "credentials": {"username": "u"}}], "credentials need"),
        ([{**HOST, "adress": "x"}], "unknown keys: adress"),
    ],
)
def test_estate_errors_name_the_problem(hosts, message):
    with pytest.raises(EstateError, match=message):
        parse_estate({"hosts": hosts})


def test_windows_paths_map_into_the_host_tree(tmp_path):
    files = HostFileSystem(tmp_path)
    assert files.local_path("c:\\Windows\\Temp\\a b.txt") == tmp_path / "C" / "Windows" / "Temp" / "a b.txt"
    assert files.local_path("D:/data//x") == tmp_path / "D" / "data" / "x"
    for bad in ("\\\\server\\share\\x", "relative\\x", "C:\\a\\..\\..\\etc"):
        with pytest.raises(HostPathError):
            files.local_path(bad)


@pytest.mark.parametrize(
    "bad",
    [
        "C:\\Restore\x0bm1",
        "C:\\Restore\\m1\r",
        "C:\\a\nb",
        "C:\\a<b",
        "C:\\a>b",
        'C:\\a"b',
        "C:\\a|b",
        "C:\\a?b",
        "C:\\a*b",
        "C:\\a:b",
        "D:/x\x00",
    ],
)
def test_a_name_windows_refuses_is_refused_with_windows_message(tmp_path, bad):
    # Characters 0-31 and < > : " | ? * (Naming Files, Paths, and Namespaces): ERROR_INVALID_NAME (123).
    with pytest.raises(InvalidNameError) as error:
        HostFileSystem(tmp_path).local_path(bad)
    assert str(error.value) == "The filename, directory name, or volume label syntax is incorrect."
    assert (error.value.winerror, error.value.windows_path) == (123, bad)
    assert list(tmp_path.iterdir()) == []


def test_environment_variables_expand_for_the_user():
    assert expand_variables("%TEMP%\\x %NOPE%", "me") == "C:\\Users\\me\\AppData\\Local\\Temp\\x %NOPE%"


def test_command_lines_split_like_windows():
    assert split_command_line('PowerShell -File "C:\\a b\\c.ps1" x') == ["PowerShell", "-File", "C:\\a b\\c.ps1", "x"]


def test_scripts_compare_as_ansible_sends_them():
    assert normalise("  a\r\n\r\n\tb  \n") == ["a", "b"]
    assert input_lines(b"one\r\ntwo\n\x00\x00\x00\x00\nthree") == ["one", "two", "\0\0\0\0", "three"]
    assert base64.b64encode("x".encode("utf-16-le")) == b"eAA="  # the encoding -EncodedCommand expects
