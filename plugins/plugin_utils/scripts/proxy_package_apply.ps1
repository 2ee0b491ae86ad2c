# Apply of backup.hyperv.proxy_package: stages the files the plan names into the package folder.
# Steps (made by plugins/plugin_utils/desired_state/package.py):
#   expand_archive   the zip the controller sent (archive: a file in the connection's temp folder) holds exactly
#                    the files to stage; each entry is written under destination, replacing the file there
#                    (System.IO.Compression.ZipFile: "ZipFile Class",
#                    https://learn.microsoft.com/dotnet/api/system.io.compression.zipfile)
#   copy_files       Copy-Item each file from source (the package folder on a share) to destination
# Folders are created as needed. Returns @{ applied = <steps run>; reboot_required = $false }.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][object[]]$Steps
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include records_common.ps1
#include steps_common.ps1

function New-ParentFolder {
    param([string]$Path)
    $folder = Split-Path -Path $Path -Parent
    if (-not (Test-Path -LiteralPath $folder)) { $null = New-Item -ItemType Directory -Path $folder -Force }
}

function Expand-PackageArchive {
    param($Step)
    Add-Type -AssemblyName 'System.IO.Compression.FileSystem'
    $archive = [System.IO.Compression.ZipFile]::OpenRead($Step.archive)
    try {
        foreach ($entry in $archive.Entries) {
            if (-not $entry.Name) { continue }  # a folder entry
            $target = Join-HostPath -Folder $Step.destination -RelativePath ($entry.FullName -replace '/', '\')
            New-ParentFolder -Path $target
            [System.IO.Compression.ZipFileExtensions]::ExtractToFile($entry, $target, $true)
        }
    }
    finally { $archive.Dispose() }
}

function Copy-PackageFiles {
    param($Step)
    foreach ($file in $Step.files) {
        $target = Join-HostPath -Folder $Step.destination -RelativePath $file
        New-ParentFolder -Path $target
        Copy-Item -LiteralPath (Join-HostPath -Folder $Step.source -RelativePath $file) -Destination $target -Force
    }
}

$actions = @{
    expand_archive = { param($Step) Expand-PackageArchive -Step $Step }
    copy_files     = { param($Step) Copy-PackageFiles -Step $Step }
}
$results = Invoke-PlanSteps -Steps $Steps -Actions $actions -Describe { param($Step) "$($Step.action) $($Step.destination)" }
[ordered]@{ applied = $results.Count; reboot_required = $false }
