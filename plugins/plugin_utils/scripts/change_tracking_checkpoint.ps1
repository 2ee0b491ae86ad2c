# Checkpoint step of backup.hyperv.change_tracking, on the source Hyper-V host (root\virtualization\v2, CIM cmdlets only).
# Per VM of -Vms ([{ Name; Since = { <disk file name, case-blind> = <RCT id> } }]):
#   * the VM's Msvm_ComputerSystem by name and its configuration version (Msvm_VirtualSystemSettingData.Version of the
#     realized settings). Resilient change tracking needs version 6.2 or later (Windows Server 2016; Update-VMVersion):
#     "Upgrade virtual machine version in Hyper-V on Windows or Windows Server",
#     https://learn.microsoft.com/windows-server/virtualization/hyper-v/deploy/upgrade-virtual-machine-version-in-hyper-v-on-windows-or-windows-server
#     An older VM gets no checkpoint, every disk a reason;
#   * no recovery checkpoint held already: the VM's snapshots (Msvm_SnapshotOfVirtualSystem) of VirtualSystemType
#     Microsoft:Hyper-V:Snapshot:Recovery. One is another backup application's in progress, or one a run of this
#     collection made when the reply naming it was lost; Hyper-V would stack the new one on it and the VM would go on
#     writing to its layer after this run. The VM fails alone, naming it and how to remove it;
#     https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-snapshotofvirtualsystem
#   * a recovery checkpoint: Msvm_VirtualSystemSnapshotService.CreateSnapshot with SnapshotType 32768 and an embedded
#     Msvm_VirtualSystemSnapshotSettingData of ConsistencyLevel 1 (application consistent)
#     https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-virtualsystemsnapshotservice-createsnapshot
#     https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-virtualsystemsnapshotsettingdata
#     Application consistent means the guest froze its applications (its VSS, through the backup integration
#     service); when that checkpoint fails (a guest without the service, a writer that times out) and
#     -CrashConsistentFallback is true, a second CreateSnapshot asks ConsistencyLevel 2 (crash consistent: the disks
#     as a power cut would leave them) and the entry says so (Consistency 'crash', ConsistencyMessage the first
#     failure), as backup products do; false: the VM fails. The reference point keeps the level it was taken with
#     (Msvm_VirtualSystemReferencePoint.ConsistencyLevel);
#     The VM then writes to a new .avhdx per disk; the files the snapshot's Msvm_StorageAllocationSettingData name
#     (HostResource[0]) are the ones it used before, now frozen: those are the disks to read;
#   * per frozen disk: its virtual size and format (Msvm_ImageManagementService.GetVirtualHardDiskSettingData, an
#     embedded Msvm_VirtualHardDiskSettingData: MaxInternalSize, Format 2 VHD, 3 VHDX, 4 VHD Set)
#     https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-imagemanagementservice-getvirtualharddisksettingdata
#     https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-virtualharddisksettingdata
#     and, for a VHDX with an RCT id in Since, its changed ranges since that id
#     (Msvm_ImageManagementService.GetVirtualDiskChanges; ProcessedByteLength may be less than asked, so the query
#     goes on from ByteOffset + ProcessedByteLength until the whole disk is covered)
#     https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-imagemanagementservice-getvirtualdiskchanges
# Returns @{ vms = [{ Name; Id; Version; Checkpoint; Consistency; ConsistencyMessage; Failed; Message;
#                     Disks = [{ Path; Name; Size; Since; Ranges; Reason }] }] },
# one entry per asked VM in order. A failure of one VM never stops the others; the script throws only on bad input.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][object[]]$Vms,
    [Parameter(Mandatory = $true)][bool]$CrashConsistentFallback
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include values_common.ps1
#include hyperv_wmi_common.ps1

$MinimumRctVersion = [version]'6.2'
$VhdFormats = @{ 2 = 'VHD'; 3 = 'VHDX'; 4 = 'VHDSet' }
$ConsistencyLevels = [ordered]@{ application = 1; crash = 2 }  # Msvm_VirtualSystemSnapshotSettingData.ConsistencyLevel

function ConvertTo-SinceTable {
    # The RCT ids asked for by disk file name, compared case-blind as Windows compares file names.
    param($Since, [string]$VmName)
    $table = New-Object -TypeName 'System.Collections.Hashtable' -ArgumentList ([StringComparer]::OrdinalIgnoreCase)
    if ($null -eq $Since) { return $table }
    foreach ($property in $Since.PSObject.Properties) {
        if ($property.Value -isnot [string] -or -not $property.Value.Trim()) {
            throw "Vms[$VmName].Since[$($property.Name)] must be a non-empty RCT id"
        }
        $table[$property.Name] = $property.Value
    }
    return $table
}

function Test-RctVersion {
    param([string]$Version)
    $parsed = $null
    return [version]::TryParse($Version, [ref]$parsed) -and $parsed -ge $MinimumRctVersion
}

function ConvertTo-EmbeddedInstance {
    # A client-side CIM instance as the text an embedded-instance parameter takes (what Microsoft's backup sample does).
    param($Instance)
    $serializer = [Microsoft.Management.Infrastructure.Serialization.CimSerializer]::Create()
    $options = [Microsoft.Management.Infrastructure.Serialization.InstanceSerializationOptions]::None
    return [System.Text.Encoding]::Unicode.GetString($serializer.Serialize($Instance, $options))
}

function New-RecoveryCheckpoint {
    # The recovery snapshot's Msvm_VirtualSystemSettingData; throws with CreateSnapshot's return value meaning.
    param($Vm, [string]$Consistency)
    $class = Get-CimClass -Namespace $HyperVNamespace -ClassName 'Msvm_VirtualSystemSnapshotSettingData'
    $level = [byte]$ConsistencyLevels[$Consistency]
    $settings = New-CimInstance -CimClass $class -ClientOnly -Property @{ ConsistencyLevel = $level; IgnoreNonSnapshottableDisks = $true }
    $arguments = @{
        AffectedSystem   = $Vm
        SnapshotSettings = (ConvertTo-EmbeddedInstance -Instance $settings)
        SnapshotType     = [uint16]$RecoverySnapshotType
    }
    $service = Get-HyperVService -ClassName 'Msvm_VirtualSystemSnapshotService'
    $call = Invoke-HyperVMethod -InputObject $service -MethodName 'CreateSnapshot' -Arguments $arguments
    return Get-MethodOutput -Call $call -Output 'ResultingSnapshot' -ClassName 'Msvm_VirtualSystemSettingData'
}

function Get-EmbeddedProperty {
    # One property of an embedded instance in CIM-XML (<INSTANCE><PROPERTY NAME=...><VALUE>), as text or $null.
    param([xml]$Document, [string]$Name)
    $node = $Document.SelectSingleNode("//PROPERTY[@NAME='$Name']/VALUE")
    if ($null -eq $node) { return $null }
    return $node.InnerText
}

function Get-VirtualDiskInfo {
    # @{ Size = virtual size in bytes; Format = VHD, VHDX or VHDSet } of a virtual hard disk file.
    param([string]$Path)
    $service = Get-HyperVService -ClassName 'Msvm_ImageManagementService'
    $call = Invoke-HyperVMethod -InputObject $service -MethodName 'GetVirtualHardDiskSettingData' -Arguments @{ Path = $Path }
    $document = [xml]"$($call.Result.SettingData)"
    $format = Get-EmbeddedProperty -Document $document -Name 'Format'
    $name = $VhdFormats[[int]$format]
    if (-not $name) { $name = "format $format" }
    return @{ Size = [uint64](Get-EmbeddedProperty -Document $document -Name 'MaxInternalSize'); Format = $name }
}

function Get-ChangedRange {
    # [[offset, length], ...] changed since -LimitId, ascending as the host returns them.
    param([string]$Path, [string]$LimitId, [uint64]$Size)
    $service = Get-HyperVService -ClassName 'Msvm_ImageManagementService'
    $ranges = New-List
    $offset = [uint64]0
    while ($offset -lt $Size) {
        $arguments = @{ Path = $Path; LimitId = $LimitId; ByteOffset = $offset; ByteLength = [uint64]($Size - $offset) }
        $result = (Invoke-HyperVMethod -InputObject $service -MethodName 'GetVirtualDiskChanges' -Arguments $arguments).Result
        $offsets = @($result.ChangedByteOffsets | Where-Object { $null -ne $_ })
        $lengths = @($result.ChangedByteLengths | Where-Object { $null -ne $_ })
        for ($index = 0; $index -lt $offsets.Count; $index++) { $ranges.Add([object[]]@([uint64]$offsets[$index], [uint64]$lengths[$index])) }
        $processed = [uint64]$result.ProcessedByteLength
        if ($processed -eq 0) { throw "GetVirtualDiskChanges processed no bytes at offset $offset" }
        $offset += $processed
    }
    return , $ranges
}

function New-DiskEntry {
    param([string]$Path, $Since)
    $name = [System.IO.Path]::GetFileName($Path)
    $id = $null
    if ($Since.ContainsKey($name)) { $id = $Since[$name] }
    return [ordered]@{ Path = $Path; Name = $name; Size = $null; Since = $id; Ranges = $null; Reason = $null }
}

function Complete-DiskEntry {
    # Size, and the ranges since the recorded RCT id or the reason there are none (then the disk is read in full).
    param($Entry, [bool]$Tracked, [string]$NoTrackingReason)
    try { $info = Get-VirtualDiskInfo -Path $Entry.Path }
    catch { $Entry.Reason = "cannot read the disk's settings: $($_.Exception.Message)"; return $Entry }
    $Entry.Size = $info.Size
    if (-not $Tracked) { $Entry.Reason = $NoTrackingReason }
    elseif ($info.Format -ne 'VHDX') { $Entry.Reason = "$($info.Format) disk: resilient change tracking needs VHDX" }
    elseif (-not $Entry.Since) { $Entry.Reason = 'no RCT id recorded for this disk in the repository' }
    else {
        try { $Entry.Ranges = Get-ChangedRange -Path $Entry.Path -LimitId $Entry.Since -Size $info.Size }
        catch {
            $Entry.Reason = "the host does not know RCT id $($Entry.Since) for this disk (moved, storage-migrated, resized, " +
            "merged or replaced since): $($_.Exception.Message)"
        }
    }
    return $Entry
}

function Get-RealizedSetting {
    # The VM's current settings (association Msvm_SettingsDefineState), not one of its snapshots.
    param($Vm)
    return Get-CimAssociatedInstance -InputObject $Vm -ResultClassName 'Msvm_VirtualSystemSettingData' -Association 'Msvm_SettingsDefineState' |
        Select-Object -First 1
}

function Get-HeldRecoveryCheckpoint {
    # The VM's recovery snapshots that exist already (their Msvm_VirtualSystemSettingData), oldest first.
    param($Vm)
    $snapshots = Get-CimAssociatedInstance -InputObject $Vm -Association 'Msvm_SnapshotOfVirtualSystem' -ResultClassName 'Msvm_VirtualSystemSettingData'
    return , @($snapshots | Where-Object { "$($_.VirtualSystemType)" -eq $RecoverySystemType } | Sort-Object -Property CreationTime)
}

function Get-HeldCheckpointMessage {
    param([string]$Name, $Held)
    $first = $Held[0]
    $created = if ($first.CreationTime) { ([datetime]$first.CreationTime).ToUniversalTime().ToString('u') } else { 'at an unknown time' }
    return ("VM '$Name' already has recovery checkpoint $($first.InstanceID) (created $created): another backup " +
        'application is backing it up, or a run of this collection lost the reply that named it. Hyper-V would stack ' +
        "a new one on it, so none was taken. Once no backup of the VM runs, remove it (Get-VMSnapshot -VMName '$Name' " +
        '-SnapshotType Recovery | Remove-VMSnapshot); the next run backs the VM up.')
}

function New-ConsistentCheckpoint {
    # The application-consistent recovery checkpoint, or the crash-consistent one when the guest could not quiesce
    # and the fallback is allowed; $null when none was taken ($Entry then says why and is failed).
    param($Vm, $Entry)
    try {
        $settings = New-RecoveryCheckpoint -Vm $Vm -Consistency 'application'
        $Entry.Consistency = 'application'
        return $settings
    }
    catch { $quiesce = $_.Exception.Message }
    if (-not $CrashConsistentFallback) {
        $Entry.Failed = $true
        $Entry.Message = "no application-consistent recovery checkpoint of VM '$($Entry.Name)' (the crash-consistent " +
            "fallback is off): $quiesce"
        return $null
    }
    try { $settings = New-RecoveryCheckpoint -Vm $Vm -Consistency 'crash' }
    catch {
        $Entry.Failed = $true
        $Entry.Message = "no recovery checkpoint of VM '$($Entry.Name)': application consistent: $quiesce; " +
            "crash consistent: $($_.Exception.Message)"
        return $null
    }
    $Entry.Consistency = 'crash'
    $Entry.ConsistencyMessage = "the application-consistent checkpoint failed: $quiesce"
    return $settings
}

function Invoke-VmCheckpoint {
    param($Request, $Since)
    $entry = [ordered]@{ Name = "$($Request.Name)"; Id = $null; Version = $null; Checkpoint = $null; Consistency = $null
        ConsistencyMessage = $null; Failed = $false; Message = $null; Disks = @() }
    $vm = Get-VirtualMachine -Name $entry.Name
    if ($null -eq $vm) {
        $entry.Failed = $true
        $entry.Message = "VM '$($entry.Name)' was not found on $env:COMPUTERNAME"
        return $entry
    }
    $entry.Id = "$($vm.Name)".ToLowerInvariant()
    $settings = Get-RealizedSetting -Vm $vm
    $entry.Version = Get-Text $settings.Version
    $tracked = Test-RctVersion -Version $entry.Version
    $reason = "configuration version $($entry.Version) has no resilient change tracking (6.2 or later; Update-VMVersion)"
    if ($tracked) {
        $held = Get-HeldRecoveryCheckpoint -Vm $vm
        if ($held.Count -gt 0) {
            $entry.Failed = $true
            $entry.Message = Get-HeldCheckpointMessage -Name $entry.Name -Held $held
            return $entry
        }
        $settings = New-ConsistentCheckpoint -Vm $vm -Entry $entry
        if ($null -eq $settings) { return $entry }
        $entry.Checkpoint = "$($settings.InstanceID)"
    }
    try {
        $disks = foreach ($disk in Get-VirtualDiskSetting -Settings $settings) {
            Complete-DiskEntry -Entry (New-DiskEntry -Path "$(@($disk.HostResource)[0])" -Since $Since) -Tracked $tracked -NoTrackingReason $reason
        }
        $entry.Disks = @($disks)
    }
    catch {
        # The checkpoint stays in the reply, so that the release destroys it.
        $entry.Failed = $true
        $entry.Message = "the disks of VM '$($entry.Name)' could not be listed: $($_.Exception.Message)"
    }
    return $entry
}

# Bad input throws before anything is created.
$requests = foreach ($vm in $Vms) {
    if ($null -eq $vm -or -not (Get-Text $vm.Name)) { throw 'every entry of Vms needs a Name' }
    @{ Request = $vm; Since = (ConvertTo-SinceTable -Since $vm.Since -VmName $vm.Name) }
}
$reply = New-List
foreach ($request in @($requests)) {
    try { $reply.Add((Invoke-VmCheckpoint -Request $request.Request -Since $request.Since)) }
    catch {
        $reply.Add([ordered]@{ Name = "$($request.Request.Name)"; Id = $null; Version = $null; Checkpoint = $null
                Consistency = $null; ConsistencyMessage = $null; Failed = $true; Message = "$($_.Exception.Message)"; Disks = @() })
    }
}
return [ordered]@{ vms = $reply }
