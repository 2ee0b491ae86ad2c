"""The lab's pure parts: estate loading, host paths, command-line decoding."""

from __future__ import annotations

import base64
import os
import threading
from types import SimpleNamespace

import pytest
from lab.estate.fields import EstateError
from lab.estate.loader import parse_estate
from lab.handlers.data_mover import PathMap
from lab.handlers.shadow_copy import _copy_volume
from lab.handlers.shadow_copy_volumes import Volume
from lab.recognise import input_lines, normalise, split_command_line
from lab.windows.hostfs import HostFileSystem, HostPathError, InvalidNameError, expand_variables
from lab.windows.vmdisk import POINT_IN_TIME, replace_file

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


def _path_map(back: dict[str, str]) -> PathMap:
    """A PathMap of a job that outlives its request (the way back only), on a host of no estate model."""
    call = SimpleNamespace(estate=SimpleNamespace(model=None), host=SimpleNamespace(name="px1"))
    return PathMap(call, in_shell=False, back=back)  # type: ignore[arg-type]


def test_engine_output_paths_go_back_to_windows_longest_first_and_whole_names_only():
    paths = _path_map({"/lab/C/Repo": "C:\\Repo", "/lab/C/Repo/vm1": "S:\\Shadow\\vm1", "/lab/D": "D:"})
    text = "/lab/C/Repo/vm1/disk.vhdx, '/lab/C/Repo/points/x' /lab/C/Repo2/y /lab/D /lab/Dx \"/lab/C/Repo\""
    assert paths.to_windows(text) == (
        "S:\\Shadow\\vm1\\disk.vhdx, 'C:\\Repo\\points\\x' /lab/C/Repo2/y D: /lab/Dx \"C:\\Repo\""
    )


def test_engine_result_keys_and_values_go_back_to_windows_and_new_paths_are_seen():
    paths = _path_map({"/lab/C/Repo": "C:\\Repo"})
    result = {"/lab/C/Repo/a": ["/lab/C/Repo/b", 3, {"k": "/lab/E/f"}]}
    assert paths.result_to_windows(result) == {"C:\\Repo\\a": ["C:\\Repo\\b", 3, {"k": "/lab/E/f"}]}
    paths._back["/lab/E"] = "E:"  # what to_local records for a path met later in the same run
    assert paths.to_windows("/lab/E/f") == "E:\\f"


def test_a_shadow_copy_is_one_instant_for_the_lab_writers_of_a_volume(tmp_path, monkeypatch):
    """Another host's job deletes (a checkpoint's merge) and replaces (a write) files of a shared CSV while a copy
    of the volume is walked: the writer waits for the walk, so the copy holds each file whole, as it was."""
    volume = tmp_path / "Volume1"
    (volume / "vm1").mkdir(parents=True)
    layer, disk = volume / "vm1" / "vm1_A.avhdx", volume / "vm1" / "vm1.vhdx"
    layer.write_bytes(b"layer")
    disk.write_bytes(b"before")
    walked, real_scandir = [], os.scandir

    def writer() -> None:
        with POINT_IN_TIME:  # as change_tracking's merge removes a layer
            layer.unlink()
        replace_file(disk, lambda temporary: temporary.write_bytes(b"after"))

    def scandir_then_write(path):  # the first look into the volume starts the other job's writes
        if not walked:
            thread = threading.Thread(target=writer)
            thread.start()
            thread.join(timeout=0.5)  # without the walk holding the lock, the writer is done by now
            walked.append(thread)
        return real_scandir(path)

    monkeypatch.setattr("lab.handlers.shadow_copy.os.scandir", scandir_then_write)
    copy = tmp_path / "copy"
    _copy_volume(Volume("\\\\?\\Volume{x}\\", ("C:\\ClusterStorage\\Volume1\\",), volume, (), "lun1"), copy)
    walked[0].join()
    assert (copy / "vm1" / "vm1_A.avhdx").read_bytes() == b"layer"
    assert (copy / "vm1" / "vm1.vhdx").read_bytes() == b"before"
    assert disk.read_bytes() == b"after" and not layer.exists()
