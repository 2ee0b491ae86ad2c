# Shared by vm_restore_read.ps1 and vm_restore_apply.ps1 (#include vm_restore_common.ps1): the restore point's
# configuration file in the source folder, the target folders, Compare-VM's report for the import with the switch
# mapping applied, and a VM as the module returns it. Hyper-V PowerShell module (Windows Server 2016 and later):
#   Compare-VM  https://learn.microsoft.com/powershell/module/hyper-v/compare-vm
#   Import-VM   https://learn.microsoft.com/powershell/module/hyper-v/import-vm
#   Connect-VMNetworkAdapter / Disconnect-VMNetworkAdapter on the report's adapters (Compare-VM's example: an
#   incompatibility's Source is the object to repair, then Compare-VM -CompatibilityReport checks again).

function Get-SourceConfiguration {
    # The .vmcx (or a 5.0 VM's .xml) in the source folder: the one named, else the only one; $null when none.
    param([string]$Source, [string]$Configuration)
    if ($Configuration) {
        $path = $Source.TrimEnd('\') + '\' + $Configuration
        if (Test-Path -LiteralPath $path -PathType Leaf) { return $path }
        return $null
    }
    $found = @(Get-ChildItem -LiteralPath $Source -File -ErrorAction SilentlyContinue | Where-Object { $_.Extension -in '.vmcx', '.xml' })
    if ($found.Count -gt 1) { throw "the source folder $Source holds $($found.Count) configuration files: name one in configuration" }
    if ($found.Count -eq 1) { return $found[0].FullName }
    return $null
}

function Get-VmEntry {
    # A VM as the module returns it.
    param($Vm)
    if ($null -eq $Vm) { return $null }
    $disks = @(Get-VMHardDiskDrive -VM $Vm | ForEach-Object { "$($_.Path)" })
    $adapters = @(Get-VMNetworkAdapter -VM $Vm | ForEach-Object { [ordered]@{ Name = "$($_.Name)"; Switch = Get-Text $_.SwitchName } })
    return [ordered]@{
        Name = "$($Vm.Name)"; Id = "$($Vm.Id)".ToLowerInvariant(); State = "$($Vm.State)"; Version = "$($Vm.Version)"
        Clustered = [bool]$Vm.IsClustered; ConfigurationLocation = "$($Vm.ConfigurationLocation)"; Disks = $disks; Adapters = $adapters
    }
}

function Get-RestoreTarget {
    # Where the import writes: the new VM's storage paths, or the folders of the VM it replaces (original).
    param([string]$Location, [string]$VirtualMachinePath, [string]$VhdPath, $Existing)
    if ($Location -eq 'new') { return @{ VirtualMachinePath = $VirtualMachinePath; VhdPath = $VhdPath; Folders = @() } }
    $paths = @(Get-VMHardDiskDrive -VM $Existing | ForEach-Object { "$($_.Path)" })
    $folders = @($paths | ForEach-Object { Split-Path -Path $_ -Parent } | Sort-Object -Unique)
    return @{ VirtualMachinePath = "$($Existing.ConfigurationLocation)"; VhdPath = @($folders)[0]; Folders = $folders }
}

function New-RestoreReport {
    # Compare-VM for Import-VM -Copy from the source folder (-GenerateNewId for a new VM), the switch mapping applied
    # to the report's VM, then compared again. InPlace: for Import-VM registering the configuration where it is (no
    # -Copy), its disks at the paths it names (the VM's own files, rolled back by the data mover).
    param([string]$Path, [string]$Source, [string]$Location, $Target, [object[]]$Switches, [bool]$InPlace = $false)
    $arguments = @{
        Path = $Path; Copy = $true; VhdSourcePath = $Source; VhdDestinationPath = $Target.VhdPath
        VirtualMachinePath = $Target.VirtualMachinePath; SnapshotFilePath = $Target.VirtualMachinePath
        SmartPagingFilePath = $Target.VirtualMachinePath
    }
    if ($InPlace) { $arguments = @{ Path = $Path } }
    if ($Location -eq 'new') { $arguments.GenerateNewId = $true }
    $report = Compare-VM @arguments
    $map = @{}
    foreach ($entry in @($Switches)) { if ($entry) { $map["$($entry.Source)".ToLowerInvariant()] = $entry.Target } }
    foreach ($adapter in @(Get-VMNetworkAdapter -VM $report.VM)) {
        $key = "$($adapter.SwitchName)".ToLowerInvariant()
        if (-not $map.ContainsKey($key)) { continue }
        if ($map[$key]) { Connect-VMNetworkAdapter -VMNetworkAdapter $adapter -SwitchName $map[$key] }
        else { Disconnect-VMNetworkAdapter -VMNetworkAdapter $adapter }
    }
    if ($map.Count -gt 0) { $report = Compare-VM -CompatibilityReport $report }
    return $report
}

function Get-IncompatibilityEntry {
    # Compare-VM's incompatibilities, each with the kind vm_restore_words.py explains.
    param($Report)
    $entries = New-List
    foreach ($item in @($Report.Incompatibilities)) {
        if ($null -eq $item) { continue }
        $kind = 'other'; $subject = $null
        if ($item.MessageId -eq 33012) { $kind = 'switch'; $subject = Get-Text $item.Source.SwitchName }
        elseif ($item.Source -is [Microsoft.HyperV.PowerShell.HardDiskDrive]) { $kind = 'path'; $subject = Get-Text $item.Source.Path }
        $entries.Add([ordered]@{ Kind = $kind; MessageId = $item.MessageId; Message = "$($item.Message)"; Subject = $subject })
    }
    return , $entries
}
