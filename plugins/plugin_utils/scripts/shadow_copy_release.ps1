# Release of backup.hyperv.shadow_copy, on either side: unexpose the shadow copies, delete them, then
# remove the set's metadata file and its (then empty) mount folders. What is already gone is skipped, not an
# error (and not counted), so a release run again (or after a partial one) finishes the work, and the module may
# send a set's copies without reading first.
# https://learn.microsoft.com/windows-server/administration/windows-commands/delete-shadows
#   unexpose <folder>          for each of -ExposedPaths still exposed
#   delete shadows id {id}     for each of -ShadowIds still listed
#                              (a copy of an SMB3 share too: the file server then removes its shadow copy share)
# DiskShadow stops a script at its first failing command, so one id that vanished since the controller read the
# set (or one folder no longer exposed) would leave every later command undone: the script asks Win32_ShadowCopy
# again right before and sends only what still exists, then checks that Win32_ShadowCopy no longer lists what it
# deleted nor shows anything exposed at the folders. Shadow copies of SMB3 shares live on the file server and are
# not in this host's Win32_ShadowCopy: each of -ShareShadowIds is deleted by a DiskShadow run of its own, so one that
# fails leaves the others done; the script then fails naming it and keeps -Files (the set's record) for a retry.
# The set's record (<set>.shares.json among -Files, written by shadow_copy_create.ps1) says which share copies are
# left: each id is taken out of it once its copy is deleted, and the record goes last, so a release sent again
# after its reply was lost (the controller re-sends it: _connection_retry.RESEND_SAFE) deletes only what the first
# left, where DiskShadow would fail on a copy already gone. Without a record among -Files every id is deleted.
# https://learn.microsoft.com/previous-versions/windows/desktop/vsswmi/win32-shadowcopy
# Returns @{ unexposed; deleted; removed_files; removed_directories } (what this run did).
[CmdletBinding()]
param(
    [string[]]$ExposedPaths = @(),
    [string[]]$ShadowIds = @(),
    [string[]]$ShareShadowIds = @(),
    [string[]]$Files = @(),
    [string[]]$Directories = @()
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include diskshadow_common.ps1

function Get-FolderKey {
    # Case-blind, one trailing backslash: Win32_ShadowCopy.ExposedName ends with one, the controller's paths may not.
    param([string]$Path)
    return "$($Path.TrimEnd('\'))\".ToLowerInvariant()
}

function Get-ShadowState {
    # The shadow copies this host lists now, by lower-case id (Win32_ShadowCopy reports ids in upper case, DiskShadow
    # prints them in lower case), and the folders they are exposed at.
    $byId = @{}
    $exposed = @{}
    foreach ($shadow in Get-CimInstance -ClassName 'Win32_ShadowCopy') {
        $byId["$($shadow.ID)".ToLowerInvariant()] = $true
        if ($shadow.ExposedName) { $exposed[(Get-FolderKey -Path "$($shadow.ExposedName)")] = "$($shadow.ID)" }
    }
    return @{ ById = $byId; Exposed = $exposed }
}

function Get-ShareRecord {
    # The set's share records among -Files that still exist: @{ <lower-case id> = <record path> }, or $null when -Files
    # names none (then every id asked is deleted).
    $records = @($Files | Where-Object { "$_".EndsWith('.shares.json', [StringComparison]::OrdinalIgnoreCase) })
    if ($records.Count -eq 0) { return $null }
    $listed = @{}
    foreach ($record in $records) {
        if (-not (Test-Path -LiteralPath $record -PathType Leaf)) { continue }
        # foreach, not @(...): Windows PowerShell's ConvertFrom-Json writes a JSON array as one object.
        foreach ($entry in (Get-Content -LiteralPath $record -Raw | ConvertFrom-Json)) { $listed["$($entry.ID)".ToLowerInvariant()] = $record }
    }
    return $listed
}

function Remove-RecordedShareCopy {
    # The record without the copy just deleted: a release run again skips it.
    param([string]$Record, [string]$Id)
    $left = @(foreach ($entry in (Get-Content -LiteralPath $Record -Raw | ConvertFrom-Json)) { if ("$($entry.ID)" -ne $Id) { $entry } })
    Set-Content -LiteralPath $Record -Value (ConvertTo-Json -InputObject $left -Depth 3) -Encoding UTF8
}

$before = Get-ShadowState
$shareRecord = Get-ShareRecord
$shareDelete = @($ShareShadowIds | Where-Object { $null -eq $shareRecord -or $shareRecord.ContainsKey("$_".ToLowerInvariant()) })
$unexpose = @($ExposedPaths | Where-Object { $before.Exposed.ContainsKey((Get-FolderKey -Path $_)) })
$delete = @($ShadowIds | Where-Object { $before.ById.ContainsKey("$_".ToLowerInvariant()) })
$work = Join-Path -Path $env:TEMP -ChildPath "backup.hyperv-release-$([guid]::NewGuid())"
$null = New-Item -ItemType Directory -Path $work
$failed = [System.Collections.Generic.List[string]]::new()
try {
    $lines = [System.Collections.Generic.List[string]]::new()
    foreach ($path in $unexpose) { $lines.Add("unexpose `"$path`"") }
    foreach ($id in $delete) { $lines.Add("delete shadows id $id") }
    if ($lines.Count -gt 0) { $null = Invoke-DiskShadow -Lines $lines.ToArray() -Folder $work -What 'releasing' }
    foreach ($id in $shareDelete) {
        try { $null = Invoke-DiskShadow -Lines @("delete shadows id $id") -Folder $work -What "deleting $id" }
        catch { $failed.Add("$($_.Exception.Message)"); continue }
        if ($null -ne $shareRecord) { Remove-RecordedShareCopy -Record $shareRecord["$id".ToLowerInvariant()] -Id $id }
    }
}
finally {
    Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction SilentlyContinue
}
if ($failed.Count -gt 0) { throw ($failed -join '; ') }
if ($unexpose.Count -gt 0 -or $delete.Count -gt 0) {
    $after = Get-ShadowState
    $left = @($ShadowIds | Where-Object { $after.ById.ContainsKey("$_".ToLowerInvariant()) })
    $left += @($ExposedPaths | Where-Object { $after.Exposed.ContainsKey((Get-FolderKey -Path $_)) })
    if ($left.Count -gt 0) { throw "diskshadow reported success but Win32_ShadowCopy still lists $($left -join ', ')" }
}
# Counted only when it was there: the module may name a set's files without reading first, and reports a change only
# when this run removed something.
$removedFiles = 0
foreach ($file in $Files) {
    if (-not (Test-Path -LiteralPath $file -PathType Leaf)) { continue }
    Remove-Item -LiteralPath $file -Force -ErrorAction SilentlyContinue
    $removedFiles += 1
}
$removed = 0
foreach ($folder in $Directories) {
    # Not recursive: a folder still holding an exposed shadow copy must fail here, not be walked into.
    if (-not (Test-Path -LiteralPath $folder)) { continue }
    foreach ($child in Get-ChildItem -LiteralPath $folder -Directory -Force) { [System.IO.Directory]::Delete($child.FullName, $false) }
    [System.IO.Directory]::Delete($folder, $false)
    $removed += 1
}
return [ordered]@{
    unexposed           = $unexpose.Count
    deleted             = $delete.Count + $shareDelete.Count
    removed_files       = $removedFiles
    removed_directories = $removed
}
