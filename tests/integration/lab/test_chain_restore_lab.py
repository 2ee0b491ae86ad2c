"""A checkpoint chain backed up and restored end to end (issue 19): a VM whose disk is a checkpoint's differencing
layer (`.avhdx`) on its base VHDX is backed up by `backup.hyperv.data_mover` on a lab proxy from the newest layer,
and restored; the restored disk passes `qemu-img check` and equals the chain's merged content. qemu cannot read a
differencing VHDX, so the reference is built without the collection's reader: the base's raw image with the
layer's writes applied."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from lab_testkit import ESTATES, estate_lab
from test_data_mover_lab import (
    DESTINATION,
    DISK,
    DISK_SIZE,
    REPOSITORY,
    data_mover_task,
    make_vhdx,
    proxy_play,
    run_playbook,
    save_results_play,
    saved,
    stage_proxies,
    windows_file,
)

# isort: split
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.writer import VhdxWriter

LAYER = "C:\\VMs\\web01\\web01-os_6F1C2B3A-0D4E-4F5A-8B6C-7D8E9F0A1B2C.avhdx"
# What the VM wrote after the checkpoint: a whole block over the base's data, part of a block, and a block of a
# hole in the base.
WRITES = ((5 << 20, 1 << 20), (9 << 20, 64 << 10), (50 << 20, 1 << 20))


def make_layer(work: Path, base: Path) -> tuple[Path, Path]:
    """The differencing layer on `base` with WRITES, and the merged raw image those writes make of the base's."""
    merged = work / "merged.raw"
    merged.write_bytes((work / f"{base.stem}.raw").read_bytes())
    layer = work / LAYER.rsplit("\\", 1)[1]
    generator = random.Random(19)
    writer = VhdxWriter(str(layer), DISK_SIZE, block_size=1 << 20, parent=str(base), parent_windows_path=DISK)
    with writer, merged.open("r+b") as image:
        for offset, length in WRITES:
            data = generator.randbytes(length)
            writer.write(offset, data)
            image.seek(offset)
            image.write(data)
    return layer, merged


def test_a_checkpoint_chain_restores_to_its_merged_content(tmp_path):
    base = make_vhdx(tmp_path)
    layer, merged = make_layer(tmp_path, base)
    with estate_lab(ESTATES / "fresh-proxy.yml", tmp_path / "lab") as lab:
        manifest = stage_proxies(lab, {DISK: base})
        for host in ("px1", "px2"):  # beside its parent, as Hyper-V puts a checkpoint's layer
            windows_file(lab, host, LAYER).write_bytes(layer.read_bytes())
        common = {"repository": REPOSITORY, "passphrase": "{{ vault_passphrase }}"}
        tasks = [
            data_mover_task("stored", operation="backup", vm="web01", source=[LAYER], **common),
            data_mover_task("restored", operation="restore", vm="web01", destination=DESTINATION, **common),
        ]
        plays = [proxy_play(manifest, tasks), save_results_play(tmp_path, ("stored", "restored"))]
        completed = run_playbook(lab, tmp_path, "chain", plays)
        assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
        for host in ("px1", "px2"):
            outputs = saved(tmp_path, host)["restored"]["outputs"]
            assert len(outputs) == 1 and outputs[0]["path"].endswith(".vhdx"), outputs  # one disk, no parent to find
            restored = windows_file(lab, host, outputs[0]["path"])
            checked = subprocess.run(["qemu-img", "check", "-q", str(restored)], timeout=60, check=False)
            assert checked.returncode == 0, f"{host}: qemu-img check failed on the restored disk"
            compare = ["qemu-img", "compare", "-q", "-f", "raw", "-F", "vhdx", str(merged), str(restored)]
            compared = subprocess.run(compare, timeout=60, check=False)
            assert compared.returncode == 0, f"{host}: the restored disk differs from the chain's merged content"
            base_only = [
                "qemu-img",
                "compare",
                "-q",
                "-f",
                "raw",
                "-F",
                "vhdx",
                str(tmp_path / "web01-os.raw"),
                str(restored),
            ]
            assert subprocess.run(base_only, timeout=60, check=False).returncode == 1  # the layer's writes are in it
