# The vms section of the hyperv_offhost facts: the host's virtual machines and their disks.
# Included by host_facts.ps1 (#include facts_vms.ps1), the driver: it says what the collectors may use.

function Get-VirtualDiskFormat {
    # The extension names the format (.avhd/.avhdx are checkpoint differencing disks); Get-VHD
    # reads the file for anything else. A pass-through disk has no file: Unknown.
    param([string]$Path)
    $formats = @{ '.vhd' = 'VHD'; '.avhd' = 'VHD'; '.vhdx' = 'VHDX'; '.avhdx' = 'VHDX'; '.vhds' = 'VHDSet' }
    try {
        $extension = [System.IO.Path]::GetExtension($Path).ToLowerInvariant()
        if ($formats.ContainsKey($extension)) { return $formats[$extension] }
        return "$((Get-VHD -Path $Path).VhdFormat)"
    }
    catch {
        return 'Unknown'
    }
}

function Get-VmsSection {
    $vms = New-List
    # Without the role there are no VMs, whatever tools are installed (Get-VM of the Hyper-V tools alone
    # fails reaching vmms); with it, a missing module is an error, never an empty list.
    if (-not (Test-HyperVRole)) { return , $vms }
    Assert-Module 'Hyper-V' 'Hyper-V-PowerShell'
    foreach ($vm in Get-VM) {
        $disks = New-List
        foreach ($drive in Get-VMHardDiskDrive -VM $vm) {
            $disks.Add([ordered]@{
                    path                = "$($drive.Path)"
                    format              = Get-VirtualDiskFormat $drive.Path
                    controller_type     = Get-Text $drive.ControllerType
                    controller_number   = [int]$drive.ControllerNumber
                    controller_location = [int]$drive.ControllerLocation
                })
        }
        $vms.Add([ordered]@{ name = "$($vm.Name)"; id = Get-Text $vm.VMId; state = Get-Text $vm.State; disks = $disks })
    }
    return , $vms
}
