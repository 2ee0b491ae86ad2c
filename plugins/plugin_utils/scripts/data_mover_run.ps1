# data_mover_run.ps1: run the data mover component installed on this proxy (requirement R3) once.
# Params (docs/datamover.md, "On a Windows proxy"):
#   Options        the options document (DataMoverOptions.to_json, one line of JSON): the engine reads it on
#                  stdin ("datamover.pyz run --options -"), so no argument is quoted, no file is written,
#                  and the passphrase inside it is never on a command line, on disk or in the environment.
#   Component      '' or the name of the data mover component to run (the module's option component).
# The data mover is found on this proxy: the records proxy_components wrote under
# HKLM:\SOFTWARE\backup.hyperv\Components whose Role is data_mover (their Destination, and Runtime and Engine
# relative to it). One (or the one named Component): installed means its Version is recorded and both files
# exist, and it runs. Otherwise nothing runs and ran is $false (the controller says why: R3, or which to pick).
# Returns @{ component = @{Name; Version; Destination; Missing} or $null; found = names of the data mover
#            records; outdated = names of records without Role (an older version wrote them); ran;
#            exit_code; stdout; stderr }.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$Options,
    [string]$Component = ''
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include process_common.ps1
#include records_common.ps1
#include values_common.ps1

$found = New-List
$outdated = New-List
$records = @()
if (Test-Path -LiteralPath $ComponentRecordRoot) {
    foreach ($key in Get-ChildItem -LiteralPath $ComponentRecordRoot) {
        $role = $key.GetValue('Role', $null)
        if ($null -eq $role) { $outdated.Add($key.PSChildName) }
        elseif ($role -eq 'data_mover') {
            $found.Add($key.PSChildName)
            # Registry key names are case-blind, and so is -eq.
            if (-not $Component -or $key.PSChildName -eq $Component) { $records += $key }
        }
    }
}
$reply = [ordered]@{ component = $null; found = $found; outdated = $outdated; ran = $false; exit_code = $null; stdout = ''; stderr = '' }
if ($records.Count -ne 1) { return $reply }

$record = $records[0]
$destination = [string]$record.GetValue('Destination', '')
$relatives = @([string]$record.GetValue('Runtime', ''), [string]$record.GetValue('Engine', ''))
$missing = New-List
foreach ($relative in $relatives) {
    if (-not $relative -or -not (Test-Path -LiteralPath (Join-HostPath -Folder $destination -RelativePath $relative) -PathType Leaf)) {
        $missing.Add($relative)
    }
}
$reply.component = [ordered]@{ Name = $record.PSChildName; Version = $record.GetValue('Version', $null); Destination = $destination; Missing = $missing }
if ($null -eq $reply.component.Version -or $missing.Count -gt 0) { return $reply }

# The document is ASCII (JSON escapes the rest), so the code page stdin is written in cannot change it.
$runtime = Join-HostPath -Folder $destination -RelativePath $relatives[0]
$arguments = '"' + (Join-HostPath -Folder $destination -RelativePath $relatives[1]) + '" run --options -'
$environment = @{ PYTHONIOENCODING = 'utf-8' }
$run = Invoke-Program -FilePath $runtime -Arguments $arguments -InputText $Options -Environment $environment -Encoding ([Text.Encoding]::UTF8)
$reply.ran = $true
$reply.exit_code = $run.ExitCode
$reply.stdout = $run.StdOut
$reply.stderr = $run.StdErr
return $reply
