# Read of backup.hyperv.shadow_copy. One of three queries:
#   -Vms            the VMs' files and the host's volumes with their mount points (Win32_Volume), so the
#                   controller can pick the volumes to shadow and refuse VHD Set disks (R15), unreadable files
#                   and chains it cannot read before anything is created. Per VM:
#                   Files       virtual disks from Get-VMHardDiskDrive with Get-VHD VhdFormat and Parents (the
#                               differencing chain by Get-VHD ParentPath, nearest first: a checkpoint's .avhdx
#                               names its parent, which may be differencing too); the configuration, runtime
#                               state and guest state files of the VM and of each checkpoint (Get-VMSnapshot)
#                   Unreadable  @{ Path; Reason } of each file the VM needs that cannot be read: access denied,
#                               a configuration file not found, a parent Get-VHD cannot open
#                   https://learn.microsoft.com/powershell/module/hyper-v/get-vhd
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

#include records_common.ps1
#include vm_names_common.ps1

function Get-DiskEntry {
    # One disk with its format and parent chain; a top disk Get-VHD cannot open keeps Format $null (the controller
    # then falls back to the extension for R15, and the data mover reports what it cannot read), a parent it cannot
    # open goes to $Unreadable: the chain is known to go on but cannot be followed.
    param([string]$Path, [System.Collections.Generic.List[object]]$Unreadable)
    $entry = [ordered]@{ Path = $Path; Kind = 'disk'; Format = $null; Parents = @() }
    try { $vhd = Get-VHD -Path $Path } catch { return $entry }
    $entry.Format = "$($vhd.VhdFormat)"
    $parents = [System.Collections.Generic.List[string]]::new()
    while ($vhd.ParentPath) {
        $parent = "$($vhd.ParentPath)"
        if ($parents.Contains($parent) -or $parents.Count -ge 64) {
            $Unreadable.Add([ordered]@{ Path = $Path; Reason = 'its differencing chain loops or is deeper than 64 disks' })
            break
        }
        $parents.Add($parent)
        try { $vhd = Get-VHD -Path $parent }
        catch {
            $Unreadable.Add([ordered]@{ Path = $parent; Reason = "Get-VHD: $($_.Exception.Message)" })
            break
        }
    }
    $entry.Parents = $parents.ToArray()
    return $entry
}

function Get-FileProblem {
    # $null when the file is there, 'not found', or why it cannot be read. Test-Path answers $false both for a
    # missing file and for one this account may not see; [IO.File]::GetAttributes throws FileNotFoundException or
    # DirectoryNotFoundException for the first and UnauthorizedAccessException for the second.
    # https://learn.microsoft.com/dotnet/api/system.io.file.getattributes
    param([string]$Path)
    try {
        $null = [System.IO.File]::GetAttributes($Path)
        return $null
    }
    catch {
        $exception = $_.Exception
        while ($exception.InnerException) { $exception = $exception.InnerException }  # MethodInvocationException
        if ($exception -is [System.IO.FileNotFoundException] -or $exception -is [System.IO.DirectoryNotFoundException]) {
            return 'not found'
        }
        return $exception.Message
    }
}

function Get-ConfigurationCandidate {
    # A VM's or a checkpoint's files by configuration version ("Upgrade virtual machine version in Hyper-V on
    # Windows or Windows Server", https://learn.microsoft.com/windows-server/virtualization/hyper-v/deploy/upgrade-virtual-machine-version-in-hyper-v-on-windows-or-windows-server):
    # version 5.0 keeps <id>.xml, and <id>\<id>.bin and .vsv (saved state); later versions <id>.vmcx, .vmrs, .vmgs.
    # The configuration file is needed; the others exist only in some states. Paths are joined as text: Join-Path
    # throws in Windows PowerShell 5.1 when the drive does not exist on this host.
    param([string]$Folder, [string]$Id, [bool]$Xml)
    $base = "$($Folder.TrimEnd('\'))\$Id"
    if ($Xml) {
        return @([ordered]@{ Path = "$base.xml"; Needed = $true }, [ordered]@{ Path = "$base\$Id.bin"; Needed = $false },
            [ordered]@{ Path = "$base\$Id.vsv"; Needed = $false })
    }
    return @([ordered]@{ Path = "$base.vmcx"; Needed = $true }, [ordered]@{ Path = "$base.vmrs"; Needed = $false },
        [ordered]@{ Path = "$base.vmgs"; Needed = $false })
}

function Get-VmFileList {
    # Returns @{ Files; Unreadable } of one VM.
    param([object]$Vm)
    $files = [System.Collections.Generic.List[object]]::new()
    $unreadable = [System.Collections.Generic.List[object]]::new()
    foreach ($drive in Get-VMHardDiskDrive -VM $Vm) {
        if (-not $drive.Path) { continue }
        $files.Add((Get-DiskEntry -Path "$($drive.Path)" -Unreadable $unreadable))
    }
    $xml = [version]"$($Vm.Version)" -lt [version]'6.0'
    # Hyper-V names the files with the id in upper case; a Guid prints in lower case.
    $owners = @(@{ Folder = "$($Vm.ConfigurationLocation.TrimEnd('\'))\Virtual Machines"; Id = "$($Vm.VMId)".ToUpperInvariant() })
    foreach ($checkpoint in @(Get-VMSnapshot -VM $Vm)) {
        $owners += @{ Folder = "$($Vm.SnapshotFileLocation.TrimEnd('\'))\Snapshots"; Id = "$($checkpoint.Id)".ToUpperInvariant() }
    }
    foreach ($owner in $owners) {
        foreach ($candidate in Get-ConfigurationCandidate -Folder $owner.Folder -Id $owner.Id -Xml $xml) {
            $problem = Get-FileProblem -Path $candidate.Path
            if (-not $problem) { $files.Add([ordered]@{ Path = $candidate.Path; Kind = 'configuration'; Format = $null; Parents = @() }) }
            elseif ($problem -ne 'not found' -or $candidate.Needed) { $unreadable.Add([ordered]@{ Path = $candidate.Path; Reason = $problem }) }
        }
    }
    return [ordered]@{ Files = $files.ToArray(); Unreadable = $unreadable.ToArray() }
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
    $reply.vms = @(foreach ($vm in Get-VmNamed -Name $Vms) {
            $listed = Get-VmFileList -Vm $vm
            [ordered]@{ Name = "$($vm.Name)"; Files = @($listed.Files); Unreadable = @($listed.Unreadable) }
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
    # Joined as text: a folder on a drive this host lacks holds nothing (Join-Path would throw in 5.1).
    $reply.metadata_files = @(Get-PathState -Path (Join-HostPath -Folder $MetadataDir -RelativePath "$folderName.cab"))
    $reply.mount_dirs = @(Get-PathState -Path (Join-HostPath -Folder $ExposeRoot -RelativePath $folderName))
    $record = Join-HostPath -Folder $MetadataDir -RelativePath "$folderName.shares.json"
    if (Test-Path -LiteralPath $record) {
        $reply.shadows = @($reply.shadows) + @(Get-ShareShadowList -Record $record -Id $ShadowId)
        $reply.metadata_files = @($reply.metadata_files) + @(Get-PathState -Path $record)
    }
}
return $reply
