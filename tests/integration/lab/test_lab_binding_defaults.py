"""A parameter left out of a request gets the default the script's own param() block declares (issue 19), as
PowerShell gives it, not a default a lab handler keeps of its own: lab.handlers.binding supplies it."""

from __future__ import annotations

import shutil

import pytest
from lab_testkit import ProvisionedLab

# isort: split
import lab.context
from lab.estate.loader import parse_estate
from lab.handlers.binding import BindingError, bind

CREDENTIALS = {"username": "Administrator", "password": "x"}
SCRIPT = """[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$Name,
    [int]$Timeout = 7,
    [string]$Label = 'x y',
    [string]$Empty = "",
    [bool]$Flag = $true,
    [object[]]$Items = @(),
    [string]$Computed = (Get-Date).ToString(),
    [int]$Unset
)
"""


def test_left_out_parameters_hold_their_declared_literal_defaults():
    assert bind(SCRIPT, {"Name": "n"}) == {
        "Name": "n",
        "Timeout": 7,
        "Label": "x y",
        "Empty": "",
        "Flag": True,
        "Items": [],
    }


def test_a_given_value_wins_over_the_default():
    bound = bind(SCRIPT, {"Name": "n", "Timeout": "9", "Flag": 0})
    assert (bound["Timeout"], bound["Flag"]) == (9, False)


def test_a_handler_reads_the_script_default_not_its_own(tmp_path, monkeypatch):
    """host_facts.ps1 with `[int]$ProbeTimeout = 7`: a LUN that never answers is reported after 7 s, the
    script's default, where the handler used to apply its own 60."""
    scripts = tmp_path / "scripts"
    shutil.copytree(lab.context.SCRIPTS_DIR, scripts)
    script = scripts / "host_facts.ps1"
    text = script.read_text()
    assert "[int]$ProbeTimeout = 60," in text
    script.write_text(text.replace("[int]$ProbeTimeout = 60,", "[int]$ProbeTimeout = 7,"))
    monkeypatch.setattr(lab.context, "SCRIPTS_DIR", scripts)
    host = {"name": "hv1", "address": "127.0.0.91", "credentials": CREDENTIALS, "role": "hyperv"}
    estate = {"domains": [{"dns": "contoso.local"}], "luns": [{"id": "l1"}]}
    estate["hosts"] = [{**host, "luns": [{"lun": "l1", "readable": "hang"}]}]
    facts = ProvisionedLab(parse_estate(estate), tmp_path / "lab").call("hv1", "host_facts", {})
    assert [disk["read_error"] for disk in facts["disks"]] == [None, "no data within 7 s"]


@pytest.mark.parametrize("name", ["proxy_components_apply", "vss_provider_apply", "windows_feature_apply"])
def test_steps_left_out_fail_as_powershell_binds_them(tmp_path, name):
    host = {"name": "hv1", "address": "127.0.0.92", "credentials": CREDENTIALS, "role": "hyperv"}
    lab_ = ProvisionedLab(parse_estate({"domains": [{"dns": "contoso.local"}], "hosts": [host]}), tmp_path / "lab")
    with pytest.raises(BindingError, match="missing mandatory parameters: Steps"):
        lab_.call("hv1", name, {})
