# Release step of backup.hyperv.change_tracking, on the source Hyper-V host (root\virtualization\v2, CIM cmdlets only).
# Per entry of -Vms ([{ Name; Checkpoint; Keep; Drop }], each id or $null):
#   * Checkpoint still there: a recovery checkpoint never converted, destroyed with
#     Msvm_VirtualSystemSnapshotService.DestroySnapshot
#     https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-virtualsystemsnapshotservice-destroysnapshot
#   * Keep: every other RCT reference point of the VM (Msvm_VirtualSystemReferencePoint of ReferencePointType 2 whose
#     VirtualSystemIdentifier is the VM's GUID) is destroyed, and Drop: that reference point, with
#     Msvm_VirtualSystemReferencePointService.DestroyReferencePoint
#     https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-virtualsystemreferencepoint
#     https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-virtualsystemreferencepointservice-destroyreferencepoint
# What is already gone is skipped, so a second release does nothing. A Checkpoint that names anything but a recovery
# snapshot throws before anything is destroyed (never a VM's own settings nor a user's checkpoint). A destroy that
# fails does not stop the others; the script then throws naming each failure.
# OnHost says whether the VM, or anything the entry names, is on this host. A VM that live-migrated to another node of
# its cluster during the backup took its checkpoints and reference points with it (this host's
# root\virtualization\v2 lists its own VMs only), so nothing of it is found here, which is not "already destroyed":
# the controller releases it on the node it runs on now.
# Returns @{ vms = [{ Name; OnHost; DestroyedCheckpoints = [id]; DestroyedReferencePoints = [id] }] } (what this run
# destroyed).
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][object[]]$Vms
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include values_common.ps1
#include hyperv_wmi_common.ps1

function Get-OwnCheckpoint {
    # The recovery snapshot -Id names, $null when it is gone; throws for anything else.
    param([string]$Id)
    if (-not $Id) { return $null }
    $snapshot = Get-SettingDataById -InstanceId $Id
    if ($null -ne $snapshot -and "$($snapshot.VirtualSystemType)" -ne $RecoverySystemType) {
        throw "Checkpoint $Id is not a recovery checkpoint ($($snapshot.VirtualSystemType)); nothing was destroyed"
    }
    return $snapshot
}

function Get-VmGuid {
    # The VM's GUID by its name, else from the reference point to keep (a VM renamed or gone keeps its points).
    param([string]$Name, $KeepPoint)
    $vm = Get-VirtualMachine -Name $Name
    if ($null -ne $vm) { return "$($vm.Name)" }
    if ($null -ne $KeepPoint) { return "$($KeepPoint.VirtualSystemIdentifier)" }
    return $null
}

function Get-PointToDestroy {
    # The reference points this entry asks to destroy that still exist.
    param($Request)
    $points = New-List
    if (Get-Text $Request.Keep) {
        $keep = "$($Request.Keep)"
        $guid = Get-VmGuid -Name "$($Request.Name)" -KeepPoint (Get-ReferencePointById -InstanceId $keep)
        if ($guid) {
            $filter = "VirtualSystemIdentifier='$(ConvertTo-WqlText -Text $guid)'"
            foreach ($point in Get-CimInstance -Namespace $HyperVNamespace -ClassName 'Msvm_VirtualSystemReferencePoint' -Filter $filter) {
                if ([int]$point.ReferencePointType -eq $RctReferencePointType -and "$($point.InstanceID)" -ne $keep) { $points.Add($point) }
            }
        }
    }
    if (Get-Text $Request.Drop) {
        $drop = Get-ReferencePointById -InstanceId "$($Request.Drop)"
        if ($null -ne $drop -and -not ($points | Where-Object { "$($_.InstanceID)" -eq "$($drop.InstanceID)" })) { $points.Add($drop) }
    }
    return , $points
}

function Test-OnThisHost {
    # Whether the VM (by name), its checkpoint or a reference point the entry names is on this host; before any destroy.
    param($Request, $Checkpoint)
    if ($null -ne $Checkpoint -or $null -ne (Get-VirtualMachine -Name "$($Request.Name)")) { return $true }
    foreach ($id in @((Get-Text $Request.Keep), (Get-Text $Request.Drop))) {
        if ($id -and $null -ne (Get-ReferencePointById -InstanceId $id)) { return $true }
    }
    return $false
}

function Invoke-VmRelease {
    param($Request, $Checkpoint, [System.Collections.Generic.List[string]]$Failures)
    $entry = [ordered]@{ Name = "$($Request.Name)"; OnHost = (Test-OnThisHost -Request $Request -Checkpoint $Checkpoint)
        DestroyedCheckpoints = (New-List); DestroyedReferencePoints = (New-List) }
    if ($null -ne $Checkpoint) {
        try {
            $service = Get-HyperVService -ClassName 'Msvm_VirtualSystemSnapshotService'
            $null = Invoke-HyperVMethod -InputObject $service -MethodName 'DestroySnapshot' -Arguments @{ AffectedSnapshot = $Checkpoint }
            $entry.DestroyedCheckpoints.Add("$($Checkpoint.InstanceID)")
        }
        catch { $Failures.Add("$($entry.Name): checkpoint $($Checkpoint.InstanceID): $($_.Exception.Message)") }
    }
    foreach ($point in Get-PointToDestroy -Request $Request) {
        try {
            $service = Get-HyperVService -ClassName 'Msvm_VirtualSystemReferencePointService'
            $null = Invoke-HyperVMethod -InputObject $service -MethodName 'DestroyReferencePoint' -Arguments @{ AffectedReferencePoint = $point }
            $entry.DestroyedReferencePoints.Add("$($point.InstanceID)")
        }
        catch { $Failures.Add("$($entry.Name): reference point $($point.InstanceID): $($_.Exception.Message)") }
    }
    return $entry
}

# Bad input throws before anything is destroyed.
$checkpoints = New-List  # one per entry, $null when there is none to destroy
foreach ($request in $Vms) {
    if ($null -eq $request -or -not (Get-Text $request.Name)) { throw 'every entry of Vms needs a Name' }
    if ((Get-Text $request.Keep) -and "$($request.Keep)" -eq "$($request.Drop)") {
        throw "Vms[$($request.Name)]: Keep and Drop name the same reference point"
    }
    $checkpoints.Add((Get-OwnCheckpoint -Id (Get-Text $request.Checkpoint)))
}
$failures = [System.Collections.Generic.List[string]]::new()
$reply = New-List
$index = 0
foreach ($request in $Vms) {
    $reply.Add((Invoke-VmRelease -Request $request -Checkpoint $checkpoints[$index] -Failures $failures))
    $index += 1
}
if ($failures.Count -gt 0) { throw "destroying failed, run the release again: $($failures -join '; ')" }
return [ordered]@{ vms = $reply }
