"""File-level restore of guest names a destination cannot take as they are, on a real NTFS volume (mkntfs and the
ntfs-3g driver, which writes names Windows' own API refuses): names that clean up alike are refused rather than
one written over the other, device names and trailing periods are made safe ("Naming Files, Paths, and
Namespaces"), a 255-character name (NTFS's longest component) restores, and the modification time is kept to
the 100 ns NTFS keeps."""

from __future__ import annotations

from pathlib import Path

import pytest
import runs
from guest_disks import Volume, gpt_disk, to_vhdx

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError

MiB = 1 << 20
LONG = "n" * 251 + ".txt"  # 255 characters
MTIME_NS = 1_600_000_000_123_456_700  # a float of seconds cannot hold it


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("names")
    volume = Volume("Names", 32 * MiB)
    volume.driver_files = {
        "\\a:b.txt": b"colon",
        "\\a_b.txt": b"underscore",
        "\\CON": b"device",
        "\\nul.txt": b"device with an extension",
        "\\trailing.": b"a trailing period",
        f"\\{LONG}": b"long",
        "\\exact.txt": b"time",
    }
    volume.mtimes = {"\\exact.txt": MTIME_NS}
    gpt_disk(folder / "names.raw", 64 * MiB, [volume])
    repository = folder / "repo"
    runs.backup(repository, "vm", [str(to_vhdx(folder / "names.raw"))])
    return repository


def restore(repo: Path, path: str, destination: Path) -> dict:
    return runs.run("restore_file", repo, vm="vm", path=path, destination=str(destination))


def test_names_that_clean_up_alike_are_refused_not_one_written_over_the_other(repo, tmp_path):
    with pytest.raises(DataMoverError, match=r"\\a:b\.txt and \\a_b\.txt -> .*a_b\.txt.*one at a time"):
        restore(repo, "\\", tmp_path / "all")
    assert not (tmp_path / "all").exists()  # refused before anything is written
    restore(repo, "\\a:b.txt", tmp_path / "one")
    restore(repo, "\\a_b.txt", tmp_path / "two")
    assert (tmp_path / "one" / "a_b.txt").read_bytes() == b"colon"
    assert (tmp_path / "two" / "a_b.txt").read_bytes() == b"underscore"


@pytest.mark.parametrize(
    ("guest", "written"), [("\\CON", "_CON"), ("\\nul.txt", "_nul.txt"), ("\\trailing.", "trailing_")]
)
def test_names_windows_would_not_write_as_given_are_made_safe(repo, tmp_path, guest, written):
    restore(repo, guest, tmp_path)
    assert [path.name for path in tmp_path.iterdir()] == [written]


def test_a_255_character_name_restores(repo, tmp_path):
    restore(repo, f"\\{LONG}", tmp_path)
    assert (tmp_path / LONG).read_bytes() == b"long"


def test_the_modification_time_is_the_guests_to_the_100_ns(repo, tmp_path):
    restore(repo, "\\exact.txt", tmp_path)
    assert (tmp_path / "exact.txt").stat().st_mtime_ns == MTIME_NS


@pytest.fixture(scope="module")
def cased(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # NTFS keeps names that differ only in case apart (the POSIX namespace ntfs-3g writes; a folder Windows marks
    # case-sensitive), while its index compares names case-blind.
    folder = tmp_path_factory.mktemp("cased")
    volume = Volume("Cased", 32 * MiB)
    volume.driver_files = {"\\a.txt": b"lower", "\\A.txt": b"UPPER", "\\Only.TXT": b"one of its kind"}
    gpt_disk(folder / "cased.raw", 64 * MiB, [volume])
    repository = folder / "repo"
    runs.backup(repository, "vm", [str(to_vhdx(folder / "cased.raw"))])
    return repository


@pytest.mark.parametrize(("guest", "data"), [("\\A.txt", b"UPPER"), ("\\a.txt", b"lower")])
def test_a_name_that_differs_only_in_case_from_another_restores_its_own_bytes(cased, tmp_path, guest, data):
    restore(cased, guest, tmp_path)
    assert [(path.name, path.read_bytes()) for path in tmp_path.iterdir()] == [(guest[1:], data)]


def test_a_name_in_another_case_finds_the_one_file_of_that_name_and_refuses_a_choice_it_cannot_make(cased, tmp_path):
    restore(cased, "\\only.txt", tmp_path / "one")
    assert (tmp_path / "one" / "Only.TXT").read_bytes() == b"one of its kind"
    with pytest.raises(DataMoverError, match=r"matches several names that differ only in case \(A\.txt, a\.txt\)"):
        restore(cased, "\\A.TXT", tmp_path / "two")
    assert not (tmp_path / "two").exists()


def test_alternate_data_streams_are_named_in_the_result_not_dropped_without_a_word(tmp_path_factory, tmp_path):
    # ntfs-3g's streams_interface=windows writes `file:stream` as a named $DATA attribute, as Windows does.
    folder = tmp_path_factory.mktemp("streams")
    volume = Volume("Streams", 32 * MiB)
    volume.driver_files = {"\\plain.txt": b"no stream", "\\download.exe": b"MZ"}
    volume.streams = {"\\download.exe:Zone.Identifier": b"[ZoneTransfer]\r\nZoneId=3\r\n"}
    gpt_disk(folder / "streams.raw", 64 * MiB, [volume])
    repository = folder / "repo"
    runs.backup(repository, "vm", [str(to_vhdx(folder / "streams.raw"))])
    reply = restore(repository, "\\", tmp_path / "all")
    assert reply["streams_not_restored"] == ["\\download.exe:Zone.Identifier"]
    assert "1 alternate data stream(s) not restored" in reply["warnings"][0]
    assert (tmp_path / "all" / "Streams" / "download.exe").read_bytes() == b"MZ"  # its data restored as it was
    assert restore(repository, "\\plain.txt", tmp_path / "one")["streams_not_restored"] == []
