"""The offhost_proxy role acts on preflight's decision (issue 16: preflight decides, roles follow).

One lab of tests/lab/estates/r1-unmanaged-host.yml (hv2 runs no installer service, so it is not a managed
server). `playbooks/offhost_proxy.yml` must stop on px1 before any install, naming hv2 from the decision's
`needs.managed_servers` with the R1 finding, whatever `offhost_proxy_stop_on_fail` says: R1 is a prerequisite
of the role, not a finding that option waives.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_testkit import ESTATES, RunningLab, estate_lab
from test_site_lab import playbook, recap

OFFHOST_PROXY = Path(__file__).resolve().parents[3] / "playbooks" / "offhost_proxy.yml"


@pytest.fixture(scope="module")
def unmanaged_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    with estate_lab(ESTATES / "r1-unmanaged-host.yml", tmp_path_factory.mktemp("r1") / "lab") as lab:
        yield lab


@pytest.mark.parametrize("stop_on_fail", [True, False])
def test_an_unmanaged_source_host_stops_the_role_before_any_install(
    unmanaged_source: RunningLab, tmp_path: Path, stop_on_fail: bool
) -> None:
    rc, output = playbook(unmanaged_source, tmp_path, OFFHOST_PROXY, {"offhost_proxy_stop_on_fail": stop_on_fail})
    assert rc == 2, output[-3000:]
    assert "R1 fail: not managed servers (no installer service): hv2. Apply backup.hyperv.managed_server to hv2" in (
        output
    ), output[-3000:]
    assert recap(output)["px1"]["failed"] == 1 and recap(output)["px1"]["changed"] == 0
    assert "Install the Windows features" not in output  # stopped before the first install


def test_a_source_host_the_inventory_does_not_name_so_is_refused_before_any_probe(
    unmanaged_source: RunningLab, tmp_path: Path
) -> None:
    # Probed under the name as given, HV1 would be a connection of its own (ssh), failing three times over as a
    # network error and marking px1 unreachable; inventory names are exact.
    extra = {"offhost_proxy_source_hosts": ["HV1", "hv2"]}
    rc, output = playbook(unmanaged_source, tmp_path, OFFHOST_PROXY, extra, "--limit", "px1")
    assert rc == 2, output[-3000:]
    said = "offhost_proxy_source_hosts[0] 'HV1' is not a host of the inventory (inventory names are exact: did you"
    assert said in output, output[-3000:]
    assert recap(output)["px1"]["failed"] == 1 and recap(output)["px1"]["unreachable"] == 0
