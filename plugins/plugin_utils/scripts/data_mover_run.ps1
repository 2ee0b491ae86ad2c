# data_mover_run.ps1: run the data mover component installed on this proxy (requirement R3) once.
# Params (docs/datamover.md, "On a Windows proxy"):
#   Component      @{Name; Destination; Runtime; Engine}: the manifest's data mover component; Runtime
#                  (python\python.exe) and Engine (datamover.pyz) are relative to Destination.
#   CommandLine    the engine's arguments, already quoted as CommandLineToArgvW splits them.
#   InputFiles     @{<option>: <JSON text>}: options the engine reads from a file, e.g. changed-ranges
#                  (the RCT ranges) or job (the VMs of a job); each is written to <option>.json in the
#                  temporary folder and passed as --<option> "<file>". Empty by default.
#   Passphrase     '' or the repository passphrase; the engine gets it in its environment only.
# Installed means: proxy_components wrote the version record HKLM:\SOFTWARE\backup.hyperv\Components\<Name>
# and both files exist. Otherwise nothing runs and ran is $false (the controller reports R3).
# Returns @{ component = @{Name; Version; Destination; Missing}; ran; exit_code; stdout; stderr }.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)]$Component,
    [Parameter(Mandatory = $true)][string]$CommandLine,
    $InputFiles = @{},
    [string]$Passphrase = ''
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include process_common.ps1
#include records_common.ps1

$record = Join-Path -Path $ComponentRecordRoot -ChildPath $Component.Name
$version = $null
if (Test-Path -LiteralPath $record) {
    $version = (Get-ItemProperty -LiteralPath $record).Version
}
$runtime = Join-Path -Path $Component.Destination -ChildPath $Component.Runtime
$engine = Join-Path -Path $Component.Destination -ChildPath $Component.Engine
$missing = @()
foreach ($relative in @($Component.Runtime, $Component.Engine)) {
    $path = Join-Path -Path $Component.Destination -ChildPath $relative
    if (-not (Test-Path -LiteralPath $path -PathType Leaf)) { $missing += $relative }
}
$installed = [ordered]@{ Name = $Component.Name; Version = $version; Destination = $Component.Destination; Missing = $missing }
if ($null -eq $version -or $missing.Count -gt 0) {
    return [ordered]@{ component = $installed; ran = $false; exit_code = $null; stdout = ''; stderr = '' }
}

$work = Join-Path -Path ([IO.Path]::GetTempPath()) -ChildPath ('backup.hyperv-datamover-' + [guid]::NewGuid().ToString('N'))
$null = New-Item -ItemType Directory -Path $work
try {
    $arguments = '"' + $engine + '" ' + $CommandLine
    # Through the bootstrap (ConvertFrom-Json) InputFiles is a PSCustomObject; called directly, a hashtable.
    $files = $InputFiles.PSObject.Properties
    if ($InputFiles -is [Collections.IDictionary]) { $files = $InputFiles.GetEnumerator() }
    foreach ($file in $files) {
        $inputFile = Join-Path -Path $work -ChildPath ([string]$file.Name + '.json')
        [IO.File]::WriteAllText($inputFile, [string]$file.Value, [Text.UTF8Encoding]::new($false))
        $arguments += ' --' + $file.Name + ' "' + $inputFile + '"'
    }
    $environment = @{ PYTHONIOENCODING = 'utf-8' }
    if ($Passphrase) { $environment['BACKUP_HYPERV_PASSPHRASE'] = $Passphrase }
    $run = Invoke-Program -FilePath $runtime -Arguments $arguments -WorkingDirectory $work -Environment $environment -Encoding ([Text.Encoding]::UTF8)
    return [ordered]@{
        component = $installed
        ran = $true
        exit_code = $run.ExitCode
        stdout = $run.StdOut
        stderr = $run.StdErr
    }
}
finally {
    Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction SilentlyContinue
}
