"""Two lab pieces bench/job.py relies on: a host's `cpus` (the cores its data mover runs may use, so that each
emulated proxy has a core of its own) and `lab write/churn --blocks` (a share of the disk's tracking blocks,
written whole)."""

from __future__ import annotations

import json
import sys

import pytest
import yaml
from lab_testkit import ESTATES, estate_lab, run_lab

# isort: split
from lab.estate.fields import EstateError
from lab.estate.loader import parse_estate
from lab.handlers.data_mover_cpus import run_on_cores

BLOCK = 256 << 10  # the estate's rct_block (the lab's default)


def healthy_with(host: str, **keys: object) -> dict:
    document = yaml.safe_load((ESTATES / "healthy.yml").read_text())
    entry = next(entry for entry in document["hosts"] if entry["name"] == host)
    entry.update(keys)
    return document


def test_a_host_names_the_cores_its_data_mover_runs_may_use():
    estate = parse_estate(healthy_with("px1", cpus=[0]))
    assert estate.model.host("px1").cpus == (0,) and estate.model.host("hv1").cpus is None
    for wrong in ([], [-1], ["0"], 0):
        with pytest.raises(EstateError, match=r"px1.*cpus"):
            parse_estate(healthy_with("px1", cpus=wrong))


def test_a_run_on_cores_is_held_to_them_and_its_threads_too():
    show = "import os, threading; t = threading.Thread(target=lambda: print(sorted(os.sched_getaffinity(0)))); "
    show += "t.start(); t.join()"
    code, output, _errors = run_on_cores([sys.executable, "-c", show], (0,), None, stdout=-1, text=True)
    assert (code, json.loads(output)) == (0, [0])
    code, output, _errors = run_on_cores([sys.executable, "-c", show], None, None, stdout=-1, text=True)
    assert json.loads(output) == sorted(__import__("os").sched_getaffinity(0))


def test_churn_with_blocks_writes_that_share_of_whole_aligned_tracking_blocks(tmp_path):
    with estate_lab(ESTATES / "healthy.yml", tmp_path / "lab") as lab:
        state = ("--state-dir", str(lab.state_dir))
        written = json.loads(
            run_lab("write", "hv1", "vm1", "--percent", "25", "--blocks", "--seed", "1", *state).stdout
        )
        assert written["bytes"] == 4 * BLOCK  # a 4 MiB disk: 16 blocks of 256 KiB, a quarter of them
        assert all(offset % BLOCK == 0 and length % BLOCK == 0 for offset, length in written["ranges"])
        churned = json.loads(run_lab("churn", "--percent", "25", "--blocks", "--seed", "2", *state).stdout)
        vm1 = next(change for change in churned if change["vm"] == "vm1")
        assert vm1["bytes"] == 4 * BLOCK and all(offset % BLOCK == 0 for offset, _length in vm1["ranges"])
