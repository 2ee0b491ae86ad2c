# Shared by vm_disk_restore_read.ps1 and vm_disk_restore_apply.ps1 (#include vm_disk_restore_common.ps1): a VM and
# its drives as the module reads them.

function Get-DiskVmEntry {
    param($Vm)
    if ($null -eq $Vm) { return $null }
    $drives = @(Get-VMHardDiskDrive -VM $Vm | ForEach-Object {
            [ordered]@{
                ControllerType = "$($_.ControllerType)"; ControllerNumber = [int]$_.ControllerNumber
                ControllerLocation = [int]$_.ControllerLocation; Path = "$($_.Path)"
            }
        })
    # DVD drives take controller locations too (a generation 1 VM's at IDE 1:0 by default): an attach must not pick one.
    $dvds = @(Get-VMDvdDrive -VM $Vm | ForEach-Object {
            [ordered]@{ ControllerType = "$($_.ControllerType)"; ControllerNumber = [int]$_.ControllerNumber; ControllerLocation = [int]$_.ControllerLocation }
        })
    return [ordered]@{ Name = "$($Vm.Name)"; State = "$($Vm.State)"; Generation = [int]$Vm.Generation; Drives = $drives; DvdDrives = $dvds }
}
