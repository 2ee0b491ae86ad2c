# Apply step of backup.hyperv.vm_restore, on the target Hyper-V host, after vm_restore_read.ps1 found nothing in the
# way. Params: those of vm_restore_read.ps1, and Stop (turn the VM off first), ClusterRole, Start, RemoveSource.
# Prepare: only Stop-VM -TurnOff (the step before the data mover rolls the disks back in place). InPlace: the disks
#   are kept (the data mover rolled them back), the configuration files moved from the source into the VM's
#   'Virtual Machines' folder and registered there (Import-VM without -Copy), the source folder kept.
# Steps, each run once, in order (the steps before a failure stay done, as on Windows):
#   original: Stop-VM -TurnOff (its state is replaced anyway; https://learn.microsoft.com/powershell/module/hyper-v/stop-vm),
#     Remove-ClusterGroup -RemoveResources of its role (FailoverClusters), Remove-VM, then its disk and
#     configuration files that the import writes again are deleted (Import-VM -Copy does not overwrite);
#   both: Compare-VM again with the switch mapping, Import-VM -CompatibilityReport (original keeps the VM ID; new is
#     -GenerateNewId) https://learn.microsoft.com/powershell/module/hyper-v/import-vm, Rename-VM for a new VM,
#     Add-ClusterVirtualMachineRole -VMId (https://learn.microsoft.com/powershell/module/failoverclusters/add-clustervirtualmachinerole),
#     Start-VM (https://learn.microsoft.com/powershell/module/hyper-v/start-vm), the source folder removed.
# Returns @{ Vm = VM entry; Steps = [what was done] }.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$Vm,
    [string]$Source = '',
    [Parameter(Mandatory = $true)][ValidateSet('new', 'original')][string]$Location,
    [string]$Configuration = '',
    [string]$Name = '',
    [string]$VirtualMachinePath = '',
    [string]$VhdPath = '',
    [object[]]$Switches = @(),
    [bool]$Prepare = $false,
    [bool]$InPlace = $false,
    [bool]$Stop = $false,
    [bool]$ClusterRole = $false,
    [bool]$Start = $false,
    [bool]$RemoveSource = $true
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include values_common.ps1
#include vm_restore_common.ps1
#include vm_names_common.ps1

$steps = New-List

function Remove-ReplacedVm {
    # The VM of the original location, unregistered; the files the import writes again deleted.
    param($Existing, $Target, [string]$Path)
    if ($Stop) { Stop-VM -VM $Existing -TurnOff -Force; $steps.Add("Stop-VM -TurnOff $($Existing.Name)") }
    if ($Existing.IsClustered) {
        Get-ClusterGroup -Name $Existing.Name | Remove-ClusterGroup -RemoveResources -Force
        $steps.Add("Remove-ClusterGroup $($Existing.Name)")
    }
    $disks = @(Get-VMHardDiskDrive -VM $Existing | ForEach-Object { "$($_.Path)" })
    $id = "$($Existing.Id)".ToUpperInvariant()
    Remove-VM -VM $Existing -Force
    $steps.Add("Remove-VM $($Existing.Name)")
    $restored = @(Get-ChildItem -LiteralPath $Source -File | ForEach-Object { $_.Name })
    foreach ($disk in $disks) {
        if ($InPlace) { break }  # the rolled-back disks are the restore point's
        if ($restored -contains (Split-Path -Path $disk -Leaf)) { Remove-Item -LiteralPath $disk -Force; $steps.Add("Remove-Item $disk") }
    }
    $folder = $Target.VirtualMachinePath.TrimEnd('\') + '\Virtual Machines'
    foreach ($file in @(Get-ChildItem -LiteralPath $folder -File -Filter "$id.*" -ErrorAction SilentlyContinue)) {
        Remove-Item -LiteralPath $file.FullName -Force
        $steps.Add("Remove-Item $($file.FullName)")
    }
}

function Move-Configuration {
    # InPlace: the restored configuration files (<VM ID>.*) into the VM's 'Virtual Machines' folder, where the
    # import registers them; returns the moved configuration file.
    param([string]$Path, $Target)
    $id = [IO.Path]::GetFileNameWithoutExtension($Path)
    $folder = $Target.VirtualMachinePath.TrimEnd('\') + '\Virtual Machines'
    foreach ($file in @(Get-ChildItem -LiteralPath $Source -File -Filter "$id.*")) {
        Move-Item -LiteralPath $file.FullName -Destination $folder -Force
        $steps.Add("Move-Item $($file.FullName) $folder")
    }
    return $folder + '\' + [IO.Path]::GetFileName($Path)
}

if ($Prepare) {
    $existing = Get-OneVmNamed -Name $Vm
    if ($Stop) { Stop-VM -VM $existing -TurnOff -Force; $steps.Add("Stop-VM -TurnOff $($existing.Name)") }
    return [ordered]@{ Vm = (Get-VmEntry -Vm (Get-VM -Id $existing.Id)); Steps = $steps }
}
$path = Get-SourceConfiguration -Source $Source -Configuration $Configuration
if (-not $path) { throw "no configuration file in $Source" }
$existing = $null
if ($Location -eq 'original') { $existing = Get-OneVmNamed -Name $Vm }
$target = Get-RestoreTarget -Location $Location -VirtualMachinePath $VirtualMachinePath -VhdPath $VhdPath -Existing $existing
if ($existing) { Remove-ReplacedVm -Existing $existing -Target $target -Path $path }
if ($InPlace) { $path = Move-Configuration -Path $path -Target $target }
$report = New-RestoreReport -Path $path -Source $Source -Location $Location -Target $target -Switches $Switches -InPlace $InPlace
$left = @($report.Incompatibilities | Where-Object { $null -ne $_ })
if ($left.Count -gt 0) { throw "Compare-VM reports $($left.Count) incompatibilities: $(($left | ForEach-Object { $_.Message }) -join '; ')" }
$imported = Import-VM -CompatibilityReport $report
$steps.Add("Import-VM $path")
if ($Location -eq 'new') { Rename-VM -VM $imported -NewName $Name; $steps.Add("Rename-VM $Name") }
if ($ClusterRole) {
    Add-ClusterVirtualMachineRole -VMId $imported.Id | Out-Null
    $steps.Add("Add-ClusterVirtualMachineRole $($imported.Id)")
}
if ($Start) { Start-VM -VM $imported; $steps.Add("Start-VM $($imported.Name)") }
if ($RemoveSource -and -not $InPlace) { Remove-Item -LiteralPath $Source -Recurse -Force; $steps.Add("Remove-Item $Source") }
return [ordered]@{ Vm = (Get-VmEntry -Vm (Get-VM -Id $imported.Id)); Steps = $steps }
