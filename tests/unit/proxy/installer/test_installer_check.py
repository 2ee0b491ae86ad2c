"""The installer service's check (proxy/installer): a component's folder against its package's SHA256SUMS."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ansible_collections.backup.hyperv.proxy.installer import service
from ansible_collections.backup.hyperv.proxy.installer.check import check, summary
from ansible_collections.backup.hyperv.proxy.installer.components import Component
from ansible_collections.backup.hyperv.proxy.installer.drift import CHANGED, EXTRA, MISSING, Drift, component_drift

FILES = {"installer.pyz": b"zip application", "python/python.exe": b"MZ interpreter"}


def sums_line(name: str, content: bytes) -> str:
    return f"{hashlib.sha256(content).hexdigest()}  {name}\n"


@pytest.fixture
def server(tmp_path: Path) -> tuple[Path, Component]:
    """A package 1.0 (SHA256SUMS with an installer/ and a data_mover/ folder) and the installer installed."""
    packages, destination = tmp_path / "packages", tmp_path / "Installer"
    (packages / "1.0").mkdir(parents=True)
    lines = [sums_line(f"installer/{name}", content) for name, content in FILES.items()]
    (packages / "1.0" / "SHA256SUMS").write_text("".join([*lines, sums_line("data_mover/x.pyz", b"x")]))
    for name, content in FILES.items():
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        (destination / name).write_bytes(content)
    return packages, Component("installer", "1.0", "installer", str(destination))


def test_a_component_as_built_has_no_drift(server: tuple[Path, Component]) -> None:
    packages, component = server
    status = check([component], packages, Path(component.destination) / "installer-status.json")
    assert (status["drift"], status["errors"], status["components"][0]["drift"]) == (False, False, [])
    assert summary(status) == "The installed components are as their packages built them (installer)."


def test_missing_changed_and_extra_files_are_drift_and_the_status_file_is_not(server: tuple[Path, Component]) -> None:
    packages, component = server
    destination = Path(component.destination)
    (destination / "installer.pyz").unlink()
    (destination / "python" / "python.exe").write_bytes(b"MZ patched")
    (destination / "python" / "extra.dll").write_bytes(b"")
    (destination / "installer-status.json").write_text("{}")
    status = check([component], packages, destination / "installer-status.json")
    assert status["components"][0]["drift"] == [
        {"path": "installer.pyz", "kind": MISSING},
        {"path": r"python\extra.dll", "kind": EXTRA},
        {"path": r"python\python.exe", "kind": CHANGED},
    ]
    assert "installer 1.0: changed python\\python.exe" in summary(status)


def test_names_compare_case_blind_as_ntfs_does(tmp_path: Path) -> None:
    (tmp_path / "Python").mkdir()
    (tmp_path / "Python" / "Python.EXE").write_bytes(b"MZ")
    expected = {"python/python.exe": hashlib.sha256(b"MZ").hexdigest()}
    assert component_drift(tmp_path, expected) == []
    assert component_drift(tmp_path, {}) == [Drift(r"Python\Python.EXE", EXTRA)]


def test_a_package_without_its_manifest_is_an_error_event(server: tuple[Path, Component], tmp_path: Path) -> None:
    _, component = server
    status = check([component], tmp_path / "elsewhere", tmp_path / "status.json")
    assert status["errors"] is True
    assert status["components"][0]["error"].startswith("cannot read the package's manifest")
    assert service.event_of(status) == (service.eventlog.ERROR, service.eventlog.CHECK_FAILED)


def test_the_event_log_gets_a_result_once_and_the_status_file_every_check(
    server: tuple[Path, Component], monkeypatch: pytest.MonkeyPatch
) -> None:
    packages, component = server
    reported = []
    monkeypatch.setattr(service, "recorded_components", lambda: [component])
    monkeypatch.setattr(service.eventlog, "report", lambda *event: reported.append(event[:2]) or True)
    checker = service.Checker(packages, Path(component.destination) / "installer-status.json")
    first, second = checker.once(), checker.once()
    (Path(component.destination) / "installer.pyz").write_bytes(b"patched")
    third = checker.once()
    assert [status["event"]["repeated"] for status in (first, second, third)] == [False, True, False]
    assert reported == [(service.eventlog.INFORMATION, 1), (service.eventlog.WARNING, 2)]
    assert '"check": 3' in (Path(component.destination) / "installer-status.json").read_text()
