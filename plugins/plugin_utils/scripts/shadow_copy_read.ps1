# Read of backup.hyperv.shadow_copy. One of three queries:
#   -Vms            the VMs' files (virtual disks from Get-VMHardDiskDrive, with Get-VHD VhdFormat; the
#                   configuration, runtime state and guest state files) and the host's volumes with their
#                   mount points (Win32_Volume), so the controller can pick the volumes to shadow and
#                   refuse VHD Set disks (R15) before anything is created;
#   -SnapshotSetId  the shadow copies of that set on this host (Win32_ShadowCopy), the set's metadata
#                   file under -MetadataDir and its mount folder under -ExposeRoot;
#   -ShadowId       that one shadow copy.
#                   Shadow copies of SMB3 shares (VSS for SMB File Shares) live on the file server, not in
#                   Win32_ShadowCopy here: they come from the set's record <MetadataDir>\<set>.shares.json that
#                   the create script wrote (with ShadowCopyShare, and the record listed as a metadata file).
# Returns @{ vms; volumes; shadows; metadata_files; mount_dirs } (vms and volumes only for -Vms).
[CmdletBinding()]
param(
    [string[]]$Vms,
    [string]$SnapshotSetId,
    [string]$ShadowId,
    [Parameter(Mandatory = $true)][string]$MetadataDir,
    [Parameter(Mandatory = $true)][string]$ExposeRoot
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

function Get-VhdFormat {
    # Get-VHD fails for a file it cannot open; the controller then falls back to the extension.
    param([string]$Path)
    try { return "$((Get-VHD -Path $Path).VhdFormat)" } catch { return $null }
}

function Get-VmFileList {
    param([object]$Vm)
    $files = [System.Collections.Generic.List[object]]::new()
    foreach ($drive in Get-VMHardDiskDrive -VM $Vm) {
        if (-not $drive.Path) { continue }
        $files.Add([ordered]@{ Path = "$($drive.Path)"; Kind = 'disk'; Format = Get-VhdFormat -Path $drive.Path })
    }
    $configFolder = Join-Path -Path $Vm.ConfigurationLocation -ChildPath 'Virtual Machines'
    foreach ($extension in '.vmcx', '.vmrs', '.vmgs') {
        $path = Join-Path -Path $configFolder -ChildPath "$($Vm.VMId)$extension"
        if (Test-Path -LiteralPath $path) { $files.Add([ordered]@{ Path = $path; Kind = 'configuration'; Format = $null }) }
    }
    return , $files.ToArray()
}

function Get-VolumeList {
    # Win32_Volume.Name is the mount point (C:\, C:\ClusterStorage\Volume1\); Win32_MountPoint adds folder mounts.
    $mounts = @(Get-CimInstance -ClassName 'Win32_MountPoint')
    $list = foreach ($volume in Get-CimInstance -ClassName 'Win32_Volume') {
        $points = @($volume.Name)
        foreach ($mount in $mounts) {
            if ($mount.Volume.DeviceID -eq $volume.DeviceID) { $points += "$($mount.Directory.Name)" }
        }
        [ordered]@{ DeviceID = "$($volume.DeviceID)"; MountPoints = @($points | Where-Object { $_ } | Select-Object -Unique) }
    }
    return , @($list)
}

function Get-ShadowList {
    param([string]$Filter)
    $list = foreach ($shadow in Get-CimInstance -ClassName 'Win32_ShadowCopy' -Filter $Filter) {
        [ordered]@{
            ID                 = "$($shadow.ID)"
            SetID              = "$($shadow.SetID)"
            VolumeName         = "$($shadow.VolumeName)"
            OriginatingMachine = "$($shadow.OriginatingMachine)"
            Imported           = [bool]$shadow.Imported
            Transportable      = [bool]$shadow.Transportable
            ExposedName        = if ($shadow.ExposedName) { "$($shadow.ExposedName)" } else { $null }
            ShadowCopyShare    = $null
        }
    }
    return , @($list)
}

function Get-ShareShadowList {
    # The recorded shadow copies of a share set; entries of other ids are left out when -ShadowId is given.
    param([string]$Record, [string]$Id)
    if (-not (Test-Path -LiteralPath $Record)) { return , @() }
    # foreach, not @(...): Windows PowerShell's ConvertFrom-Json writes a JSON array as one object.
    $entries = Get-Content -LiteralPath $Record -Raw | ConvertFrom-Json
    $list = foreach ($entry in $entries) {
        if ($Id -and "$($entry.ID)" -ne $Id) { continue }
        [ordered]@{
            ID = "$($entry.ID)"; SetID = "$($entry.SetID)"; VolumeName = "$($entry.VolumeName)"
            OriginatingMachine = $env:COMPUTERNAME; Imported = $false; Transportable = $false; ExposedName = $null
            ShadowCopyShare = "$($entry.ShadowCopyShare)"
        }
    }
    return , @($list)
}

function Get-PathState {
    param([string]$Path)
    return [ordered]@{ Path = $Path; Exists = [bool](Test-Path -LiteralPath $Path) }
}

$reply = [ordered]@{ vms = $null; volumes = $null; shadows = @(); metadata_files = @(); mount_dirs = @() }
if ($Vms) {
    $reply.vms = @(foreach ($vm in Get-VM -Name $Vms -ErrorAction SilentlyContinue) {
            [ordered]@{ Name = "$($vm.Name)"; Files = Get-VmFileList -Vm $vm }
        })
    $reply.volumes = Get-VolumeList
    return $reply
}
if ($ShadowId) {
    $reply.shadows = Get-ShadowList -Filter "ID='$ShadowId'"
    $SnapshotSetId = @($reply.shadows | ForEach-Object { $_.SetID }) | Select-Object -First 1
}
elseif ($SnapshotSetId) {
    $reply.shadows = Get-ShadowList -Filter "SetID='$SnapshotSetId'"
}
if ($SnapshotSetId) {
    $folderName = $SnapshotSetId.Trim('{', '}').ToLowerInvariant()
    $reply.metadata_files = @(Get-PathState -Path (Join-Path -Path $MetadataDir -ChildPath "$folderName.cab"))
    $reply.mount_dirs = @(Get-PathState -Path (Join-Path -Path $ExposeRoot -ChildPath $folderName))
    $record = Join-Path -Path $MetadataDir -ChildPath "$folderName.shares.json"
    if (Test-Path -LiteralPath $record) {
        $reply.shadows = @($reply.shadows) + @(Get-ShareShadowList -Record $record -Id $ShadowId)
        $reply.metadata_files = @($reply.metadata_files) + @(Get-PathState -Path $record)
    }
}
return $reply
