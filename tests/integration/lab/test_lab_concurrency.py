"""Two proxies' data mover runs at once: each engine runs in a process of its own, with its own stdin, stdout
and stderr, so both results are whole and each names its own VM and repository."""

from __future__ import annotations

import json
import threading

import yaml
from lab_testkit import ESTATES, ProvisionedLab
from test_data_mover_run_lab import default_data_mover, run_params

# isort: split
from lab.estate.loader import load_estate

from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.components import plan_components
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.manifest import validate_manifest

# delegation: the shares are read from inside the shell here (data_mover_run), a second hop without it
PX2 = {
    "name": "px2",
    "address": "127.0.0.45",
    "role": "proxy",
    "credentials": {"username": "a", "password": "b"},
    "delegation": True,
}
DISK = "\\\\fs1\\vms\\vm3\\vm3.vhdx"
TWO_PROXIES = {
    "extends": str(ESTATES / "healthy.yml"),
    "hosts": [{"name": "px1", "delegation": True}, PX2],
}


def install(lab: ProvisionedLab, host: str) -> None:
    """The default data mover's record and files on `host`, as a fresh install leaves them."""
    mover = default_data_mover()
    steps = plan_components({}, validate_manifest({"components": [mover]}), "present").steps
    lab.call(host, "proxy_components_apply", {"Steps": [s for s in steps if s["action"] == "set_component_version"]})
    for relative in mover["files"]:
        target = lab.host_file(host, f"{mover['destination']}\\{relative}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"placeholder")


def test_two_proxies_back_up_at_the_same_time_and_both_results_are_their_own(tmp_path):
    estate = tmp_path / "estate.yml"
    estate.write_text(yaml.safe_dump(TWO_PROXIES))
    lab = ProvisionedLab(load_estate(estate), tmp_path / "lab")
    replies: dict[str, dict] = {}

    def back_up(host: str) -> None:
        params = run_params("backup", f"\\\\fs1\\vms\\repo-{host}", vm=f"vm-{host}", source=[DISK])
        replies[host] = lab.call(host, "data_mover_run", params)

    for host in ("px1", "px2"):
        install(lab, host)
    runs = [threading.Thread(target=back_up, args=(host,)) for host in ("px1", "px2")]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    for host in ("px1", "px2"):
        assert (replies[host]["ran"], replies[host]["exit_code"]) == (True, 0), replies[host]["stderr"]
        result = json.loads(replies[host]["stdout"])
        assert result["disks"][0]["source"] == DISK and result["changed"] is True
        assert any(lab.host_file("fs1", f"D:\\Shares\\vms\\repo-{host}").iterdir())
