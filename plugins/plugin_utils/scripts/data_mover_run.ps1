# data_mover_run.ps1: run the data mover component installed on this proxy (requirement R3) once, inside this
# WinRM shell. The action plugin no longer sends it: a job runs as a scheduled task (data_mover_start.ps1,
# data_mover_poll.ps1), as LocalSystem, outside the shell's quotas, reading SMB3 shares as the proxy's computer
# account. Inside the shell a read of \\server\share is a second hop, refused without delegation
# (docs/backup.md, "Which identity reads what"); the lab refuses it the same way.
# Params:
#   Options        the options document (DataMoverOptions.to_json, one line of JSON), handed to the engine on
#                  stdin ("datamover.pyz run --options -"): no argument quoted, no file written.
#   Component      '' or the name of the data mover component to run (the module's option component).
# Returns @{ component; found; outdated (Find-DataMover, data_mover_common.ps1); ran; exit_code; stdout; stderr }.
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
#include data_mover_common.ps1

$found = Find-DataMover -Component $Component
$reply = $found.Reply
$reply.ran = $false
$reply.exit_code = $null
$reply.stdout = ''
$reply.stderr = ''
if ($null -eq $found.Runtime) { return $reply }

# The document is ASCII (JSON escapes the rest), so the code page stdin is written in cannot change it.
$arguments = '"' + $found.Engine + '" run --options -'
$environment = @{ PYTHONIOENCODING = 'utf-8' }
$run = Invoke-Program -FilePath $found.Runtime -Arguments $arguments -InputText $Options -Environment $environment -Encoding ([Text.Encoding]::UTF8)
$reply.ran = $true
$reply.exit_code = $run.ExitCode
$reply.stdout = $run.StdOut
$reply.stderr = $run.StdErr
return $reply
