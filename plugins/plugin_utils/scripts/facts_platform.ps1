# Sections of the hyperv_offhost facts about Windows itself: os, hyperv and features.
# Included by host_facts.ps1 (#include facts_platform.ps1), the driver: it says what the collectors may use.

function Get-OsSection {
    $os = Get-Cim 'Win32_OperatingSystem'
    $system = Get-Cim 'Win32_ComputerSystem'
    $current = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
    $model = Get-Text $system.Model
    $maker = Get-Text $system.Manufacturer
    # Model strings virtual platforms report in Win32_ComputerSystem (Hyper-V, VMware, KVM, Xen, VirtualBox).
    $virtual = "$maker|$model" -match 'Virtual Machine|VMware|KVM|QEMU|HVM domU|VirtualBox'
    return [ordered]@{
        caption            = Get-Text $os.Caption
        version            = Get-Text $os.Version
        build              = [int]$os.BuildNumber
        ubr                = if ($null -ne $current.UBR) { [int]$current.UBR } else { $null }
        manufacturer       = $maker
        model              = $model
        is_virtual_machine = [bool]$virtual
    }
}

function Test-HyperVRole {
    # The Virtual Machine Management service exists exactly when the Hyper-V role is installed.
    return $null -ne (Get-Service -Name 'vmms' -ErrorAction SilentlyContinue)
}

function Get-HyperVSection {
    $installed = Test-HyperVRole
    return [ordered]@{
        installed = $installed
        version   = if ($installed) { Get-FileVersion "$env:SystemRoot\System32\vmms.exe" } else { $null }
    }
}

function Get-FeaturesSection {
    $binaries = @{
        'Hyper-V'               = "$env:SystemRoot\System32\vmms.exe"
        'Failover-Clustering'   = "$env:SystemRoot\Cluster\clussvc.exe"
        'FS-Data-Deduplication' = "$env:SystemRoot\System32\ddpsvc.dll"
    }
    $features = New-List
    foreach ($feature in Get-WindowsFeature -Name 'Hyper-V', 'Failover-Clustering', 'FS-Data-Deduplication') {
        $features.Add([ordered]@{
                name          = "$($feature.Name)"
                display_name  = Get-Text $feature.DisplayName
                install_state = Get-Text $feature.InstallState
                installed     = [bool]$feature.Installed
                version       = if ($feature.Installed) { Get-FileVersion $binaries["$($feature.Name)"] } else { $null }
            })
    }
    return , $features
}
