# Create of backup.hyperv.shadow_copy, on the source Hyper-V host: one transportable snapshot set of the
# given volumes, taken with DiskShadow with the Hyper-V VSS writer involved, and its metadata exported.
# https://learn.microsoft.com/windows-server/administration/windows-commands/diskshadow
#   set context persistent / set option transportable   the set survives DiskShadow and is not surfaced here
#   set metadata <cab>                                  where the Backup Components Document is saved
#   writer verify {66841cd4-...}                        fail unless the Hyper-V VSS writer takes part
#   begin backup / add volume <v> alias VolN / create / end backup
# DiskShadow prints "Alias VolN for shadow ID {id} set as environment variable." and
# "Alias VSS_SHADOW_SET for shadow set ID {id} set as environment variable."; those lines give the ids.
# With -Transportable $false the volumes are SMB3 shares (\\server\share\): "add volume \\fs1\vms\" goes through
# the File Share Shadow Copy Provider to the File Server VSS Agent Service on the file server (VSS for SMB File
# Shares, Windows Server 2012 and later, MS-FSRVP), which shadows the volume behind the share and exposes the copy
# as a shadow copy share (\\server\share@{GUID}) until the set is deleted. The file server names that share:
# it is the copy's "Shadow copy device name" in DiskShadow's report of the created set. Such a set is not
# transportable: the proxy reads the shadow copy share, nothing is imported. The copies are recorded in
# <MetadataDir>\<set id>.shares.json so the read and release scripts find them without relying on this host's
# Win32_ShadowCopy listing copies held by the file server.
# The metadata file is renamed to <set id>.cab under -MetadataDir and returned base64-encoded, so the
# proxy can import the set without a file copy.
# Returns @{ SnapshotSetId; Shadows = @(@{ ShadowId; Alias; Volume; ShadowCopyShare }); MetadataPath; Metadata }
# (ShadowCopyShare is $null for local and cluster shared volumes).
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][object[]]$Volumes,
    [Parameter(Mandatory = $true)][string]$MetadataDir,
    [bool]$Transportable = $true
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$HyperVWriterId = '{66841cd4-6ded-4f4b-8f17-fd23f8ddc3de}'
$GuidPattern = '\{[0-9A-Fa-f-]{36}\}'

#include diskshadow_common.ps1

function Get-DeviceName {
    # DiskShadow's report of the set: "* Shadow copy ID = {id} ... - Shadow copy device name: <name>".
    param([string]$Output, [string]$ShadowId)
    $pattern = "Shadow copy ID = $([regex]::Escape($ShadowId))[\s\S]*?Shadow copy device name: (\S+)"
    $match = [regex]::Match($Output, $pattern, [System.Text.RegularExpressions.RegexOptions]::IgnoreCase)
    if (-not $match.Success) { throw "diskshadow did not report the shadow copy share of $ShadowId" }
    return $match.Groups[1].Value
}

function Get-VolumeArgument {
    # A drive root and a share (\\server\share\) keep their backslash; a mount point folder is named without one.
    param([string]$Path)
    if ($Path.Length -le 3 -or $Path.StartsWith('\\')) { return $Path }
    return $Path.TrimEnd('\')
}

function Get-AliasId {
    param([string]$Output, [string]$Alias)
    $match = [regex]::Match($Output, "Alias $([regex]::Escape($Alias)) for shadow (set )?ID ($GuidPattern)")
    if (-not $match.Success) { throw "diskshadow did not report the id of alias $Alias" }
    return $match.Groups[2].Value.ToLowerInvariant()
}

$null = New-Item -ItemType Directory -Path $MetadataDir -Force
$work = Join-Path -Path $MetadataDir -ChildPath ([guid]::NewGuid().ToString())
$null = New-Item -ItemType Directory -Path $work
try {
    $cab = Join-Path -Path $work -ChildPath 'metadata.cab'
    $lines = [System.Collections.Generic.List[string]]::new()
    $lines.Add('set verbose on')
    $lines.Add('set context persistent')
    if ($Transportable) { $lines.Add('set option transportable') }
    $lines.Add("set metadata `"$cab`"")
    $lines.Add("writer verify $HyperVWriterId")
    $lines.Add('begin backup')
    foreach ($volume in $Volumes) { $lines.Add("add volume `"$(Get-VolumeArgument -Path $volume.Path)`" alias $($volume.Alias)") }
    $lines.Add('create')
    $lines.Add('end backup')
    $output = Invoke-DiskShadow -Lines $lines.ToArray() -Folder $work -What 'creating the shadow copy set'

    # The exit code alone is not trusted: a set whose metadata file was not written cannot be imported. (A transportable
    # set is not surfaced on this host, so Win32_ShadowCopy here cannot confirm it; the import on the proxy does.)
    if (-not (Test-Path -LiteralPath $cab -PathType Leaf) -or (Get-Item -LiteralPath $cab).Length -eq 0) {
        throw "diskshadow reported success but wrote no metadata file ($cab)"
    }
    $setId = Get-AliasId -Output $output -Alias 'VSS_SHADOW_SET'
    $shadows = foreach ($volume in $Volumes) {
        $shadowId = Get-AliasId -Output $output -Alias $volume.Alias
        $share = if ("$($volume.Path)".StartsWith('\\')) { Get-DeviceName -Output $output -ShadowId $shadowId } else { $null }
        [ordered]@{ ShadowId = $shadowId; Alias = "$($volume.Alias)"; Volume = "$($volume.Path)"; ShadowCopyShare = $share }
    }
    if (-not $Transportable) {
        $record = Join-Path -Path $MetadataDir -ChildPath "$($setId.Trim('{', '}')).shares.json"
        $entries = foreach ($shadow in $shadows) {
            [ordered]@{ ID = $shadow.ShadowId; SetID = $setId; VolumeName = $shadow.Volume; ShadowCopyShare = $shadow.ShadowCopyShare }
        }
        Set-Content -LiteralPath $record -Value (ConvertTo-Json -InputObject @($entries) -Depth 3) -Encoding UTF8
    }
    $metadataPath = Join-Path -Path $MetadataDir -ChildPath "$($setId.Trim('{', '}')).cab"
    Move-Item -LiteralPath $cab -Destination $metadataPath -Force
    $metadata = [Convert]::ToBase64String([System.IO.File]::ReadAllBytes($metadataPath))
    return [ordered]@{ SnapshotSetId = $setId; Shadows = @($shadows); MetadataPath = $metadataPath; Metadata = $metadata }
}
finally {
    Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction SilentlyContinue
}
