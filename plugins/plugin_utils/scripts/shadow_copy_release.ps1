# Release of backup.hyperv.shadow_copy, on either side: unexpose the shadow copies, delete them, then
# remove the set's metadata file and its (then empty) mount folders. What is already gone is skipped, not an error.
# https://learn.microsoft.com/windows-server/administration/windows-commands/delete-shadows
#   unexpose <folder>          for each of -ExposedPaths
#   delete shadows id {id}     for each of -ShadowIds
#                              (a copy of an SMB3 share too: the file server then removes its shadow copy share)
# Returns @{ unexposed; deleted; removed_files; removed_directories }.
[CmdletBinding()]
param(
    [string[]]$ExposedPaths = @(),
    [string[]]$ShadowIds = @(),
    [string[]]$Files = @(),
    [string[]]$Directories = @()
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include diskshadow_common.ps1

if ($ExposedPaths.Count -gt 0 -or $ShadowIds.Count -gt 0) {
    $lines = [System.Collections.Generic.List[string]]::new()
    foreach ($path in $ExposedPaths) { $lines.Add("unexpose `"$path`"") }
    foreach ($id in $ShadowIds) { $lines.Add("delete shadows id $id") }
    $work = Join-Path -Path $env:TEMP -ChildPath "backup.hyperv-release-$([guid]::NewGuid())"
    $null = New-Item -ItemType Directory -Path $work
    try {
        $null = Invoke-DiskShadow -Lines $lines.ToArray() -Folder $work -What 'releasing'
    }
    finally {
        Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction SilentlyContinue
    }
}
foreach ($file in $Files) { Remove-Item -LiteralPath $file -Force -ErrorAction SilentlyContinue }
foreach ($folder in $Directories) {
    # Not recursive: a folder still holding an exposed shadow copy must fail here, not be walked into.
    if (-not (Test-Path -LiteralPath $folder)) { continue }
    foreach ($child in Get-ChildItem -LiteralPath $folder -Directory -Force) { [System.IO.Directory]::Delete($child.FullName, $false) }
    [System.IO.Directory]::Delete($folder, $false)
}
return [ordered]@{
    unexposed           = $ExposedPaths.Count
    deleted             = $ShadowIds.Count
    removed_files       = $Files.Count
    removed_directories = $Directories.Count
}
