# Import of backup.hyperv.shadow_copy, on the proxy: load the set's metadata, import the transportable
# shadow copies and expose each one as a folder (mount point) under the set's folder.
# https://learn.microsoft.com/windows-server/administration/windows-commands/import
#   load metadata <cab> / import          only when -Import: the set is not on this host yet
#   expose {shadow id} <folder>           for each entry of -Expose (the folder must exist and be empty)
# -Metadata is the .cab the create script returned, base64-encoded; it is written to a temporary file.
# -Missing: first ask Win32_ShadowCopy what is already here, and import only when a copy of -Expose is not listed,
# expose only the copies not exposed at their folder yet (so the module needs no read before, and a set already
# imported and exposed is no DiskShadow run and no change); -PlanOnly (check mode): that look-up, nothing done.
# DiskShadow's exit code alone is not trusted: afterwards Win32_ShadowCopy must list the set (imported) and each
# copy of -Expose exposed at its folder, else the script fails naming what is missing.
# https://learn.microsoft.com/previous-versions/windows/desktop/vsswmi/win32-shadowcopy
# Returns @{ imported; exposed = @(@{ ShadowId; Path }) } (what this run did, or with -PlanOnly would do).
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$SnapshotSetId,
    [Parameter(Mandatory = $true)][string]$Metadata,
    [bool]$Import = $true,
    [object[]]$Expose = @(),
    [bool]$Missing = $false,
    [bool]$PlanOnly = $false
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include diskshadow_common.ps1

function Get-Listed {
    # The set's shadow copies this host lists, by lower-case id, each with the folder it is exposed at (or '').
    param([string]$SetId)
    $listed = @{}
    foreach ($shadow in Get-CimInstance -ClassName 'Win32_ShadowCopy' -Filter "SetID='$SetId'") {
        $listed["$($shadow.ID)".ToLowerInvariant()] = "$($shadow.ExposedName)".TrimEnd('\').ToLowerInvariant()
    }
    return $listed
}

function Assert-Imported {
    # Compare what Win32_ShadowCopy lists for the set with what was asked (ids case-blind: WMI reports them in
    # upper case, DiskShadow in lower case).
    param([string]$SetId, [object[]]$Expose)
    $listed = @{}
    foreach ($shadow in Get-CimInstance -ClassName 'Win32_ShadowCopy' -Filter "SetID='$SetId'") {
        $listed["$($shadow.ID)".ToLowerInvariant()] = "$($shadow.ExposedName)".TrimEnd('\')
    }
    if ($listed.Count -eq 0) { throw "diskshadow reported success but Win32_ShadowCopy lists no shadow copy of set $SetId" }
    foreach ($item in $Expose) {
        $id = "$($item.ShadowId)".ToLowerInvariant()
        if (-not $listed.ContainsKey($id)) { throw "diskshadow reported success but Win32_ShadowCopy does not list $($item.ShadowId)" }
        if ($listed[$id] -ne "$($item.Path)".TrimEnd('\')) {
            throw "diskshadow reported success but $($item.ShadowId) is not exposed at $($item.Path) (Win32_ShadowCopy: '$($listed[$id])')"
        }
    }
}

if ($Missing -or $PlanOnly) {
    $listed = Get-Listed -SetId $SnapshotSetId
    $Import = @($Expose | Where-Object { -not $listed.ContainsKey("$($_.ShadowId)".ToLowerInvariant()) }).Count -gt 0
    $Expose = @($Expose | Where-Object { $listed["$($_.ShadowId)".ToLowerInvariant()] -ne "$($_.Path)".TrimEnd('\').ToLowerInvariant() })
    if ($PlanOnly -or (-not $Import -and $Expose.Count -eq 0)) {
        $planned = foreach ($item in $Expose) { [ordered]@{ ShadowId = "$($item.ShadowId)"; Path = "$($item.Path)" } }
        return [ordered]@{ imported = $Import; exposed = @($planned) }
    }
}
$work = Join-Path -Path $env:TEMP -ChildPath "backup.hyperv-import-$([guid]::NewGuid())"
$null = New-Item -ItemType Directory -Path $work
try {
    $cab = Join-Path -Path $work -ChildPath 'metadata.cab'
    [System.IO.File]::WriteAllBytes($cab, [Convert]::FromBase64String($Metadata))
    $lines = [System.Collections.Generic.List[string]]::new()
    $lines.Add('set verbose on')
    if ($Import) {
        $lines.Add("load metadata `"$cab`"")
        $lines.Add('import')
    }
    foreach ($item in $Expose) {
        $null = New-Item -ItemType Directory -Path $item.Path -Force
        if (Get-ChildItem -LiteralPath $item.Path -Force) { throw "mount folder $($item.Path) is not empty" }
        $lines.Add("expose $($item.ShadowId) `"$($item.Path)`"")
    }
    $null = Invoke-DiskShadow -Lines $lines.ToArray() -Folder $work -What "importing set $SnapshotSetId"
    Assert-Imported -SetId $SnapshotSetId -Expose $Expose
    $exposed = foreach ($item in $Expose) { [ordered]@{ ShadowId = "$($item.ShadowId)"; Path = "$($item.Path)" } }
    return [ordered]@{ imported = [bool]$Import; exposed = @($exposed) }
}
finally {
    Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction SilentlyContinue
}
