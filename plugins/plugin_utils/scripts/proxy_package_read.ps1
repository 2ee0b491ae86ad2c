# Read of backup.hyperv.proxy_package: the package folder on the proxy, file by file, and the package on a share.
# Hashes are Get-FileHash's (SHA-256 is its default algorithm, upper-case hex: "Get-FileHash",
# https://learn.microsoft.com/powershell/module/microsoft.powershell.utility/get-filehash). Every file under
# -Destination is listed, hidden and system files too (-Force), so a file the package does not list shows.
# Returns @{ Destination = @{ Exists; Sums = <SHA256SUMS text or null>; Files = @(@{ Path; Sha256 }) };
#            Source = $null, or for -Source (a package folder on a share) @{ Exists; Sums } }.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$Destination,
    [AllowNull()][string]$Source
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include records_common.ps1

function Read-Sums {
    # The SHA256SUMS text of a package folder, or $null when the folder has none.
    param([string]$Folder)
    $path = Join-HostPath -Folder $Folder -RelativePath 'SHA256SUMS'
    if (-not (Test-Path -LiteralPath $path -PathType Leaf)) { return $null }
    return [System.IO.File]::ReadAllText($path, [System.Text.Encoding]::UTF8)
}

function Read-PackageFolder {
    param([string]$Folder)
    $exists = Test-Path -LiteralPath $Folder -PathType Container
    $files = [System.Collections.Generic.List[object]]::new()
    if ($exists) {
        $root = (Get-Item -LiteralPath $Folder).FullName.TrimEnd('\') + '\'
        foreach ($file in Get-ChildItem -LiteralPath $Folder -File -Recurse -Force) {
            $hash = Get-FileHash -LiteralPath $file.FullName -Algorithm SHA256
            $files.Add([ordered]@{ Path = $file.FullName.Substring($root.Length); Sha256 = $hash.Hash })
        }
    }
    return [ordered]@{ Exists = $exists; Sums = $(if ($exists) { Read-Sums -Folder $Folder } else { $null }); Files = $files.ToArray() }
}

$sourceState = $null
if ($Source) {
    $sourceExists = Test-Path -LiteralPath $Source -PathType Container
    $sourceState = [ordered]@{ Exists = $sourceExists; Sums = $(if ($sourceExists) { Read-Sums -Folder $Source } else { $null }) }
}
[ordered]@{ Destination = Read-PackageFolder -Folder $Destination; Source = $sourceState }
