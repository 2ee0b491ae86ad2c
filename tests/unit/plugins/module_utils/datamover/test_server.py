"""The data mover's job server (``hyperv-datamover serve``, server.py): jobs handed over through the inbox are
claimed, run one after another and ended as a task's would be; a job taken back is never run; a job asks how
long the server stays; one server per folder; the keys it derived are kept only while it serves."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import cli, server
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.settings import DataMoverOptions
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store import kdf

LAUNCHER = Path(__file__).resolve().parents[5] / "bin" / "hyperv-datamover"
NAME = "data_mover 0.1.0"


def hand_over(jobs: Path, document: str, stay: float | None = None) -> Path:
    """What data_mover_start.ps1 does: the job's folder and options, then the inbox entry; the job's folder."""
    job_id = uuid.uuid4().hex
    folder = jobs / job_id
    folder.mkdir(parents=True)
    (folder / server.OPTIONS_FILE).write_text(document, encoding="utf-8")
    inbox = Path(server.server_folder(str(jobs), NAME)) / server.INBOX
    inbox.mkdir(parents=True, exist_ok=True)
    lines = f"data mover server {NAME}\n" + ("" if stay is None else f"{stay}\n")
    (inbox / job_id).write_text(lines, encoding="utf-8")
    return folder


def backup_document(tmp_path: Path, passphrase: str = "correct horse battery") -> str:
    disk = tmp_path / "disk.raw"
    if not disk.exists():
        disk.write_bytes(os.urandom(1 << 20))
    params = {"operation": "backup", "repository": str(tmp_path / "repo"), "vm": "vm1", "source": [str(disk)]}
    params.update(passphrase=passphrase, encryption="aes-256-gcm")
    return DataMoverOptions.from_params(params).to_json()


def wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.01)


def test_jobs_run_in_turn_with_one_key_derivation_and_the_last_ends_the_server(tmp_path, monkeypatch):
    jobs = tmp_path / "jobs"
    derived = []
    real = kdf._derive
    monkeypatch.setattr(kdf, "_derive", lambda request: derived.append(request) or real(request))
    first = hand_over(jobs, backup_document(tmp_path))
    second = hand_over(jobs, backup_document(tmp_path), stay=0)  # the last job of a run: end with it
    ran = server.serve(str(jobs), NAME, 30, lambda argv, out, err: cli.main(argv, {}, out, err))
    assert ran == 2
    for folder in (first, second):
        assert (folder / server.EXIT_CODE_FILE).read_text() == "0", (folder / "stderr.txt").read_text()
        assert json.loads((folder / "stdout.txt").read_text())["changed"] is True
        assert (folder / server.CLAIMED).is_file() and not (folder / server.OPTIONS_FILE).exists()
    assert len(derived) == 1  # the second job unlocked with the kept key
    assert not (Path(server.server_folder(str(jobs), NAME)) / server.ACCEPTING).exists()
    assert kdf._kept is None  # forgotten once the server ended


def test_a_key_is_kept_per_passphrase_and_settings_only_while_keeping(monkeypatch):
    derived = []
    monkeypatch.setattr(kdf, "_derive", lambda request: derived.append(request) or bytes(32))
    settings = kdf.new_settings("scrypt")
    kdf.derive_key("a", settings)
    kdf.derive_key("a", settings)
    assert len(derived) == 2  # not keeping: every unlock derives
    kdf.keep_derived_keys(True)
    try:
        kdf.derive_key("a", settings)
        kdf.derive_key("a", settings)
        kdf.derive_key("b", settings)  # another passphrase
        kdf.derive_key("a", kdf.new_settings("scrypt"))  # another salt: another key file
        assert len(derived) == 5
    finally:
        kdf.keep_derived_keys(False)
    kdf.derive_key("a", settings)
    assert len(derived) == 6


def test_a_job_taken_back_before_the_claim_is_not_run_and_an_entry_without_folder_is_dropped(tmp_path):
    jobs = tmp_path / "jobs"
    taken = hand_over(jobs, "{}")
    inbox = Path(server.server_folder(str(jobs), NAME)) / server.INBOX
    os.rename(inbox / taken.name, taken / server.UNCLAIMED)  # the start's take-back won the race
    orphan = inbox / uuid.uuid4().hex
    orphan.write_text("x", encoding="utf-8")  # its job folder is gone
    runs = []
    assert server.serve(str(jobs), NAME, 0.3, lambda argv, out, err: runs.append(argv) or 0) == 0
    assert runs == [] and not orphan.exists() and not (taken / server.EXIT_CODE_FILE).exists()


def test_an_error_the_engine_does_not_report_fails_that_job_not_the_server(tmp_path):
    jobs = tmp_path / "jobs"
    broken, fine = hand_over(jobs, "{}"), hand_over(jobs, "{}", stay=0)

    def run_job(argv, out, err):
        if broken.name in argv[2]:
            raise RuntimeError("a bug")
        out.write("{}\n")
        return 0

    assert server.serve(str(jobs), NAME, 30, run_job) == 2
    assert (broken / server.EXIT_CODE_FILE).read_text() == "1"
    assert "RuntimeError: a bug" in (broken / "stderr.txt").read_text()
    assert (fine / server.EXIT_CODE_FILE).read_text() == "0"


def test_a_job_handed_over_while_the_server_waits_is_claimed_and_the_marker_hides_while_it_runs(tmp_path):
    jobs = tmp_path / "jobs"
    marker = Path(server.server_folder(str(jobs), NAME)) / server.ACCEPTING
    seen_while_running = []

    def run_job(argv, out, err):
        seen_while_running.append(marker.exists())
        return 0

    thread = threading.Thread(target=server.serve, args=(str(jobs), NAME, 30, run_job))
    thread.start()
    wait_for(marker)
    folder = hand_over(jobs, "{}", stay=0)
    thread.join(30)
    assert not thread.is_alive() and seen_while_running == [False]
    assert (folder / server.EXIT_CODE_FILE).read_text() == "0"


def test_a_job_asks_how_long_the_server_stays(tmp_path):
    claimed = tmp_path / "claimed"
    claimed.write_text("data mover server x\n12.5\n", encoding="utf-8")
    assert server.idle_after(str(claimed), 300) == 12.5
    claimed.write_text("data mover server x\n", encoding="utf-8")
    assert server.idle_after(str(claimed), 300) == 300
    claimed.write_text("data mover server x\n-1\n", encoding="utf-8")
    assert server.idle_after(str(claimed), 300) == 300


def test_one_server_per_folder_and_a_name_with_a_path_in_it_is_refused(tmp_path):
    jobs = tmp_path / "jobs"
    command = [sys.executable, str(LAUNCHER), "serve", "--jobs", str(jobs), "--name", NAME, "--idle-seconds", "30"]
    first = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(Path(server.server_folder(str(jobs), NAME)) / server.ACCEPTING)
        second = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert second.returncode == 0 and "another server holds the folder" in second.stderr
    finally:
        first.kill()
        first.wait()
    with pytest.raises(ValueError, match="letters, digits"):
        server.server_folder(str(jobs), "..\\..\\Windows")
    bad = subprocess.run([*command[:6], "..", *command[7:]], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "server name '..'" in bad.stderr


def test_the_server_holds_the_jobs_running_lock_from_before_the_claim_until_after_the_exit_code(tmp_path):
    jobs = tmp_path / "jobs"
    folder = hand_over(jobs, "{}", stay=0)
    seen = []

    def run_job(argv, out, err):
        with open(folder / server.RUNNING, "rb") as probe:
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                seen.append("free")
            except BlockingIOError:
                seen.append("held")
        seen.append((folder / server.CLAIMED).is_file())
        return 0

    assert server.serve(str(jobs), NAME, 30, run_job) == 1
    assert seen == ["held", True] and (folder / server.EXIT_CODE_FILE).read_text() == "0"
    with open(folder / server.RUNNING, "rb") as probe:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released once the job ended


def test_a_kept_key_is_not_stored_under_the_passphrase(monkeypatch):
    monkeypatch.setattr(kdf, "_derive", lambda request: bytes(32))
    kdf.keep_derived_keys(True)
    try:
        kdf.derive_key("a secret passphrase", kdf.new_settings("scrypt"))
        assert kdf._kept and all(b"a secret passphrase" not in tag for tag in kdf._kept)
        assert all(isinstance(tag, bytes) and len(tag) == 32 for tag in kdf._kept)
    finally:
        kdf.keep_derived_keys(False)


def test_a_job_handed_over_as_the_server_stops_waiting_is_still_run(tmp_path):
    """The start saw `accepting` just before the idle wait ran out: the server, stopping, runs what came."""
    jobs, now, handed = tmp_path / "jobs", [0.0], []

    def sleep(_seconds):
        if not handed:
            handed.append(hand_over(jobs, "{}"))
        now[0] += 10  # past the idle wait: the server stops waiting before it looks again

    assert server.serve(str(jobs), NAME, 5, lambda argv, out, err: 0, clock=lambda: now[0], sleep=sleep) == 1
    assert (handed[0] / server.EXIT_CODE_FILE).read_text() == "0"
