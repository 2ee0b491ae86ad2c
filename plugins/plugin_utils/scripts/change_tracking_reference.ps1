# Reference step of backup.hyperv.change_tracking, on the source Hyper-V host (root\virtualization\v2, CIM cmdlets only).
# Per entry of -Checkpoints ([{ Vm; Checkpoint = <InstanceID of a recovery snapshot> }]):
#   * the frozen disks first: the snapshot's Msvm_StorageAllocationSettingData (HostResource[0]), since the conversion
#     deletes the snapshot (https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-storageallocationsettingdata);
#   * Msvm_VirtualSystemSnapshotService.ConvertToReferencePoint(AffectedSnapshot): only a recovery snapshot converts;
#     its .avhdx files are merged back as a side effect
#     https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-virtualsystemsnapshotservice-converttoreferencepoint
#   * the resulting Msvm_VirtualSystemReferencePoint: VirtualDiskIdentifiers[i] (the InstanceID of a disk's
#     Msvm_StorageAllocationSettingData) has the RCT id ResilientChangeTrackingIdentifiers[i]
#     https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-virtualsystemreferencepoint
# Returns @{ vms = [{ Name; ReferencePoint; Failed; Message; Disks = [{ Path; Name; ChangeId }] }] }, one entry per asked
# checkpoint in order. A checkpoint that is gone or not a recovery snapshot fails its VM alone; the others go on.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][object[]]$Checkpoints
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include values_common.ps1
#include hyperv_wmi_common.ps1

function Get-DiskKey {
    # A disk's InstanceID without its owner: "Microsoft:<VM or snapshot GUID>\<controller>\<slot>\...\D" names the
    # same drive in the VM's settings and in each snapshot's, so the part after the first backslash matches them.
    param([string]$InstanceId)
    $at = $InstanceId.IndexOf('\')
    if ($at -lt 0) { return $InstanceId.ToLowerInvariant() }
    return $InstanceId.Substring($at + 1).ToLowerInvariant()
}

function Get-FrozenDiskTable {
    # Disk InstanceID (and its owner-free key) -> the frozen file the snapshot names.
    param($Snapshot)
    $table = @{}
    foreach ($disk in Get-VirtualDiskSetting -Settings $Snapshot) {
        $path = "$(@($disk.HostResource)[0])"
        $table["$($disk.InstanceID)".ToLowerInvariant()] = $path
        $table[(Get-DiskKey -InstanceId "$($disk.InstanceID)")] = $path
    }
    return $table
}

function Get-CheckpointProblem {
    # $null when -Snapshot is a recovery snapshot of the VM, else what is wrong with it.
    param($Snapshot, [string]$Id, $Vm)
    if ($null -eq $Snapshot) { return "checkpoint $Id is gone (destroyed, applied or already converted)" }
    if ("$($Snapshot.VirtualSystemType)" -ne $RecoverySystemType) {
        return "checkpoint $Id is not a recovery checkpoint ($($Snapshot.VirtualSystemType)); only those become reference points"
    }
    if ("$($Snapshot.VirtualSystemIdentifier)" -ne "$($Vm.Name)") { return "checkpoint $Id belongs to another VM" }
    return $null
}

function ConvertTo-ReferencePoint {
    param($Snapshot)
    $service = Get-HyperVService -ClassName 'Msvm_VirtualSystemSnapshotService'
    $call = Invoke-HyperVMethod -InputObject $service -MethodName 'ConvertToReferencePoint' -Arguments @{ AffectedSnapshot = $Snapshot }
    return Get-MethodOutput -Call $call -Output 'ResultingReferencePoint' -ClassName 'Msvm_VirtualSystemReferencePoint'
}

function Get-ReferenceDisk {
    # Each disk of the reference point with its RCT id and the frozen file it belongs to.
    param($ReferencePoint, [hashtable]$Frozen)
    $identifiers = @($ReferencePoint.VirtualDiskIdentifiers)
    $changeIds = @($ReferencePoint.ResilientChangeTrackingIdentifiers)
    $disks = New-List
    for ($index = 0; $index -lt $identifiers.Count; $index++) {
        $identifier = "$($identifiers[$index])"
        $path = $Frozen[$identifier.ToLowerInvariant()]
        if (-not $path) { $path = $Frozen[(Get-DiskKey -InstanceId $identifier)] }
        if (-not $path) { throw "the reference point names disk $identifier, which the checkpoint did not hold" }
        $disks.Add([ordered]@{ Path = $path; Name = [System.IO.Path]::GetFileName($path); ChangeId = (Get-Text $changeIds[$index]) })
    }
    return , $disks
}

function Invoke-VmReference {
    param($Request)
    $entry = [ordered]@{ Name = "$($Request.Vm)"; ReferencePoint = $null; Failed = $true; Message = $null; Disks = @() }
    $vm = Get-VirtualMachine -Name $entry.Name
    if ($null -eq $vm) {
        # It had its checkpoint here a round trip ago: moved to another node (a live migration takes the checkpoint
        # along) or removed. The backup's release finds it where it runs now.
        $entry.Message = "VM '$($entry.Name)' was not found on $env:COMPUTERNAME after its checkpoint was taken: " +
            'it moved to another node of the cluster during the backup (or was removed); the next run backs it up ' +
            'where it runs'
        return $entry
    }
    $id = "$($Request.Checkpoint)"
    $snapshot = Get-SettingDataById -InstanceId $id
    $entry.Message = Get-CheckpointProblem -Snapshot $snapshot -Id $id -Vm $vm
    if ($entry.Message) { return $entry }
    $frozen = Get-FrozenDiskTable -Snapshot $snapshot
    $point = ConvertTo-ReferencePoint -Snapshot $snapshot
    $entry.ReferencePoint = "$($point.InstanceID)"
    try { $entry.Disks = Get-ReferenceDisk -ReferencePoint $point -Frozen $frozen }
    catch {
        # The reference point stays in the reply, so that the release can destroy it.
        $entry.Message = "reference point of VM '$($entry.Name)': $($_.Exception.Message)"
        return $entry
    }
    $entry.Failed = $false
    return $entry
}

foreach ($request in $Checkpoints) {
    if ($null -eq $request -or -not (Get-Text $request.Vm) -or -not (Get-Text $request.Checkpoint)) {
        throw 'every entry of Checkpoints needs a Vm and a Checkpoint'
    }
}
$reply = New-List
foreach ($request in $Checkpoints) {
    try { $reply.Add((Invoke-VmReference -Request $request)) }
    catch {
        $reply.Add([ordered]@{ Name = "$($request.Vm)"; ReferencePoint = $null; Failed = $true; Message = "$($_.Exception.Message)"; Disks = @() })
    }
}
return [ordered]@{ vms = $reply }
