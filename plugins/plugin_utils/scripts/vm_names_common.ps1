# A VM by its whole name; shared by the scripts that look a VM up by name, which include it
# (#include vm_names_common.ps1). Get-VM -Name takes wildcards ("Accept wildcard characters: True",
# https://learn.microsoft.com/powershell/module/hyper-v/get-vm): a VM named 'SQL01 [prod]' would not be found, and
# a name holding '*' or '?' could find another VM, which a restore would then turn off and overwrite. These compare
# whole names, case-blind (PowerShell's -contains and -eq), as Hyper-V Manager shows them.

function Get-VmNamed {
    # Every VM of this host whose name is one of -Name.
    param([string[]]$Name)
    return @(Get-VM | Where-Object { $Name -contains $_.Name })
}

function Get-OneVmNamed {
    # The VM of this host named -Name, or $null; Hyper-V lets two VMs share a name, and a restore must not pick one.
    param([string]$Name)
    $found = @(Get-VmNamed -Name $Name)
    if ($found.Count -gt 1) {
        $ids = ($found | ForEach-Object { "$($_.Id)" }) -join ', '
        throw "$env:COMPUTERNAME has $($found.Count) VMs named '$Name' (ids $ids): rename all but one (Rename-VM) so that the name says which"
    }
    if ($found.Count -eq 1) { return $found[0] }
    return $null
}
