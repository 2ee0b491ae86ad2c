# Hyper-V WMI helpers (namespace root\virtualization\v2) shared by the change_tracking scripts, which include it
# (#include hyperv_wmi_common.ps1). Only the CIM cmdlets of Windows PowerShell 5.1 are used, no Hyper-V module.
# The collection's action plugins send each script with its includes expanded (plugin_utils/_pwsh.py).
# The class reference: "Hyper-V WMI provider (V2)", https://learn.microsoft.com/windows/win32/hyperv_v2/windows-virtualization-portal

$HyperVNamespace = 'root\virtualization\v2'
# The snapshot type and VirtualSystemType of a recovery checkpoint (what Microsoft's backup sample creates):
# "CreateSnapshot method of the Msvm_VirtualSystemSnapshotService class",
# https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-virtualsystemsnapshotservice-createsnapshot
$RecoverySnapshotType = 32768
$RecoverySystemType = 'Microsoft:Hyper-V:Snapshot:Recovery'
# ReferencePointType 2: a reference point based on resilient change tracking
# (https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-virtualsystemreferencepoint).
$RctReferencePointType = 2

# What the return values of the Hyper-V methods mean; every method page lists the same set
# (e.g. https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-imagemanagementservice-getvirtualdiskchanges).
$HyperVReturnText = @{
    0 = 'completed with no error'; 1 = 'not supported'; 2 = 'failed'; 3 = 'timeout'; 4 = 'invalid parameter'
    5 = 'invalid state'; 6 = 'incompatible parameters'; 4096 = 'job started'; 32768 = 'failed'; 32769 = 'access denied'
    32770 = 'not supported'; 32771 = 'status is unknown'; 32772 = 'timeout'; 32773 = 'invalid parameter'
    32774 = 'system is in use'; 32775 = 'invalid state for this operation'; 32776 = 'incorrect data type'
    32777 = 'system is not available'; 32778 = 'out of memory'; 32779 = 'file not found'
}
# Msvm_ConcreteJob.JobState values of a job still at work: New, Starting, Running, Shutting Down
# (https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-concretejob); 7 is Completed, the others ended it badly.
$JobRunningStates = @(2, 3, 4, 6)
$JobCompleted = 7

function ConvertTo-WqlText {
    # A value inside a WQL string literal: backslashes and quotes escaped (InstanceIDs hold backslashes).
    param([string]$Text)
    return $Text.Replace('\', '\\').Replace("'", "\'")
}

function Get-ReturnText {
    param([string]$MethodName, $Code)
    $meaning = $HyperVReturnText[[int]$Code]
    if (-not $meaning) { $meaning = 'unknown return value' }
    return "$MethodName returned $Code ($meaning)"
}

function Wait-HyperVJob {
    # A method that returns 4096 has started a job: poll it until it leaves the running states; throw unless completed.
    param($Job, [string]$MethodName)
    $current = Get-CimInstance -InputObject $Job
    while ([int]$current.JobState -in $JobRunningStates) {
        Start-Sleep -Milliseconds 250
        $current = Get-CimInstance -InputObject $current
    }
    if ([int]$current.JobState -ne $JobCompleted) {
        throw "$MethodName job ended in state $($current.JobState), error $($current.ErrorCode): $($current.ErrorDescription)"
    }
    return $current
}

function Invoke-HyperVMethod {
    # Invoke-CimMethod, the job awaited when the method started one (4096); any other return value but 0 throws
    # with its meaning. Returns @{ Result = the method's output; Job = the finished job or $null }.
    param($InputObject, [string]$MethodName, [hashtable]$Arguments)
    $result = Invoke-CimMethod -InputObject $InputObject -MethodName $MethodName -Arguments $Arguments
    $code = [int]$result.ReturnValue
    if ($code -eq 4096) { return @{ Result = $result; Job = (Wait-HyperVJob -Job $result.Job -MethodName $MethodName) } }
    if ($code -ne 0) { throw (Get-ReturnText -MethodName $MethodName -Code $code) }
    return @{ Result = $result; Job = $null }
}

function Get-MethodOutput {
    # The instance a method names in an output reference; when it ran as a job the reference may be empty, and the
    # instance is the job's affected element (association Msvm_AffectedJobElement).
    param([hashtable]$Call, [string]$Output, [string]$ClassName)
    $reference = $Call.Result.$Output
    if ($null -ne $reference) { return Get-CimInstance -InputObject $reference }
    if ($null -ne $Call.Job) {
        $found = @(Get-CimAssociatedInstance -InputObject $Call.Job -ResultClassName $ClassName)
        if ($found.Count -gt 0) { return $found[0] }
    }
    throw "$ClassName named by $Output was not found after the call"
}

function Get-HyperVService {
    param([string]$ClassName)
    return Get-CimInstance -Namespace $HyperVNamespace -ClassName $ClassName | Select-Object -First 1
}

function Get-VirtualMachine {
    # The VM's Msvm_ComputerSystem (https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-computersystem) by name,
    # or $null. The host is an Msvm_ComputerSystem too; a VM's Name is its GUID.
    param([string]$Name)
    $filter = "ElementName='$(ConvertTo-WqlText -Text $Name)'"
    foreach ($system in Get-CimInstance -Namespace $HyperVNamespace -ClassName 'Msvm_ComputerSystem' -Filter $filter) {
        $guid = [guid]::Empty
        if ([guid]::TryParse("$($system.Name)", [ref]$guid)) { return $system }
    }
    return $null
}

function Get-SettingDataById {
    # An Msvm_VirtualSystemSettingData (a VM's settings or one of its snapshots) by InstanceID, or $null.
    # https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-virtualsystemsettingdata
    param([string]$InstanceId)
    $filter = "InstanceID='$(ConvertTo-WqlText -Text $InstanceId)'"
    return Get-CimInstance -Namespace $HyperVNamespace -ClassName 'Msvm_VirtualSystemSettingData' -Filter $filter |
        Select-Object -First 1
}

function Get-ReferencePointById {
    param([string]$InstanceId)
    $filter = "InstanceID='$(ConvertTo-WqlText -Text $InstanceId)'"
    return Get-CimInstance -Namespace $HyperVNamespace -ClassName 'Msvm_VirtualSystemReferencePoint' -Filter $filter |
        Select-Object -First 1
}

function Get-VirtualDiskSetting {
    # The virtual hard disks of a VM's or a snapshot's settings: its Msvm_StorageAllocationSettingData of
    # ResourceType 31 (logical disk) with a file, HostResource[0] being the file the settings use
    # (https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-storageallocationsettingdata).
    param($Settings)
    $disks = Get-CimAssociatedInstance -InputObject $Settings -ResultClassName 'Msvm_StorageAllocationSettingData'
    return @($disks | Where-Object { [int]$_.ResourceType -eq 31 -and @($_.HostResource).Count -gt 0 })
}
