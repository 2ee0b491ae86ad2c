# Read step of backup.hyperv.vm_disk_restore, on the Hyper-V host of the VM: the VM (name, state, generation), its
# drives (Get-VMHardDiskDrive: controller type, number, location, path) and whether the restored disk exists.
# Changes nothing. Returns @{ Vm = $null or @{ Name; State; Generation; Drives }; PathExists }.
#   Get-VMHardDiskDrive  https://learn.microsoft.com/powershell/module/hyper-v/get-vmharddiskdrive
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$Vm,
    [Parameter(Mandatory = $true)][string]$Path
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include vm_disk_restore_common.ps1
#include vm_names_common.ps1

$found = Get-OneVmNamed -Name $Vm
return [ordered]@{ Vm = (Get-DiskVmEntry -Vm $found); PathExists = [bool](Test-Path -LiteralPath $Path -PathType Leaf) }
