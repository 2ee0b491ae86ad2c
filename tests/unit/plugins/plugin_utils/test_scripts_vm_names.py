"""No script looks a VM up with `Get-VM -Name`: its -Name takes wildcards ("Accept wildcard characters: True",
https://learn.microsoft.com/powershell/module/hyper-v/get-vm), so 'SQL01 [prod]' is not found and 'web*' finds
other VMs, which a restore would then turn off and overwrite. The lab matches names exactly, so only the scripts'
text can show it; vm_names_common.ps1 compares whole names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[4] / "plugins" / "plugin_utils" / "scripts"
# Get-VM, then on the same line before any pipe, -Name (or an abbreviation PowerShell accepts: -N, -Na, -Nam)
WILDCARD_LOOKUP = re.compile(r"\bGet-VM\b[^|\n]*\s-N(a(me?)?)?\b", re.IGNORECASE)


def code_lines(path: Path) -> list[str]:
    return [line.split("#", 1)[0] for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("script", sorted(SCRIPTS.glob("*.ps1")), ids=lambda path: path.name)
def test_no_script_finds_a_vm_by_a_wildcard_name(script: Path):
    found = [line.strip() for line in code_lines(script) if WILDCARD_LOOKUP.search(line)]
    assert found == [], f"{script.name}: use Get-VmNamed / Get-OneVmNamed (vm_names_common.ps1): {found}"


def test_the_check_sees_the_lookups_it_forbids():
    assert WILDCARD_LOOKUP.search("$found = Get-VM -Name $Vm -ErrorAction SilentlyContinue")
    assert WILDCARD_LOOKUP.search("Get-VM -n $Vm")
    assert not WILDCARD_LOOKUP.search("Get-VM -Id $target.Id") and not WILDCARD_LOOKUP.search("Get-VM | Where Name")
