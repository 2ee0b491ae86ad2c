# Apply step of backup.hyperv.vm_disk_restore, after vm_disk_restore_read.ps1 and the module's checks found nothing
# in the way. Params: Vm, Path (the restored disk), Mode (replace or attach), ControllerType, ControllerNumber,
# ControllerLocation (the slot), Stop (turn the VM off first, for replace with force).
#   Stop-VM -TurnOff          https://learn.microsoft.com/powershell/module/hyper-v/stop-vm
#   Set-VMHardDiskDrive -Path https://learn.microsoft.com/powershell/module/hyper-v/set-vmharddiskdrive (replace)
#   Add-VMHardDiskDrive       https://learn.microsoft.com/powershell/module/hyper-v/add-vmharddiskdrive (attach)
# Returns @{ Vm = the VM and its drives after; Steps = [what was done] }.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$Vm,
    [Parameter(Mandatory = $true)][string]$Path,
    [Parameter(Mandatory = $true)][ValidateSet('replace', 'attach')][string]$Mode,
    [Parameter(Mandatory = $true)][ValidateSet('IDE', 'SCSI')][string]$ControllerType,
    [int]$ControllerNumber = 0,
    [int]$ControllerLocation = 0,
    [bool]$Stop = $false
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include values_common.ps1
#include vm_disk_restore_common.ps1
#include vm_names_common.ps1

$steps = New-List
$target = Get-OneVmNamed -Name $Vm
if ($Stop) { Stop-VM -VM $target -TurnOff -Force; $steps.Add("Stop-VM -TurnOff $($target.Name)") }
$slot = @{ ControllerType = $ControllerType; ControllerNumber = $ControllerNumber; ControllerLocation = $ControllerLocation }
$where = "$ControllerType ${ControllerNumber}:$ControllerLocation"
if ($Mode -eq 'replace') {
    $drive = Get-VMHardDiskDrive -VM $target @slot
    if (-not $drive) { throw "VM $($target.Name) has no drive at $where" }
    $drive | Set-VMHardDiskDrive -Path $Path
    $steps.Add("Set-VMHardDiskDrive $where -Path $Path")
} else {
    Add-VMHardDiskDrive -VM $target @slot -Path $Path
    $steps.Add("Add-VMHardDiskDrive $where -Path $Path")
}
return [ordered]@{ Vm = (Get-DiskVmEntry -Vm (Get-VM -Id $target.Id)); Steps = $steps }
