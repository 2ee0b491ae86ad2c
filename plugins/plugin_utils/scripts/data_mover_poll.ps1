# data_mover_poll.ps1: the state of one data mover job data_mover_start.ps1 started (its scheduled task and
# job folder, data_mover_common.ps1), and its removal once the controller has its result. Safe to send again:
# it reads, and Release removes only what is still there.
# Params:
#   JobId        the job's id (32 hex digits).
#   WaitSeconds  wait up to this long for a running job to end (checking twice a second), so that a short job
#                costs one poll and a long one a poll every WaitSeconds.
#   Release      once the job has ended: unregister its task and remove its folder (Unregister-ScheduledTask,
#                https://learn.microsoft.com/powershell/module/scheduledtasks/unregister-scheduledtask).
# Returns @{ job; state; progress; exit_code; stdout; stderr; task_result; released }. state: running (progress:
# the end of the engine's stderr, its progress line), done (exit_code, stdout, stderr), lost (the task ended
# without writing an exit code: task_result is its last run result, e.g. 0x80070002 for a file not found),
# absent (no task and no folder: never started, or released).
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][ValidatePattern('^[0-9a-f]{32}$')][string]$JobId,
    [int]$WaitSeconds = 0,
    [bool]$Release = $false
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include data_mover_common.ps1

$ProgressBytes = 1024  # the end of stderr a running job reports: the progress line the engine redraws

function Read-SharedText {
    # A file the engine may still be writing (opened shared for writing), as UTF-8; '' when absent.
    param([string]$Path, [long]$Tail = 0)
    if (-not (Test-Path -LiteralPath $Path -PathType Leaf)) { return '' }
    $stream = [IO.File]::Open($Path, 'Open', 'Read', 'ReadWrite')
    try {
        if ($Tail -gt 0 -and $stream.Length -gt $Tail) { [void]$stream.Seek(-$Tail, 'End') }
        return (New-Object System.IO.StreamReader($stream, [Text.Encoding]::UTF8)).ReadToEnd()
    }
    finally { $stream.Dispose() }
}

function Get-DataMoverJob {
    param([string]$Folder, [string]$TaskName)
    $state = [ordered]@{ job = $JobId; state = 'absent'; progress = $null; exit_code = $null; stdout = ''; stderr = ''; task_result = $null; released = $false }
    # The task first, then the exit code: the runner writes the exit code before its task ends.
    $task = Get-ScheduledTask -TaskPath $DataMoverTaskPath -TaskName $TaskName -ErrorAction SilentlyContinue
    if (Test-Path -LiteralPath "$Folder\exit_code.txt" -PathType Leaf) {
        $state.state = 'done'
        $state.exit_code = [int](Get-Content -LiteralPath "$Folder\exit_code.txt" -Raw).Trim()
        $state.stdout = Read-SharedText -Path "$Folder\stdout.txt"
        $state.stderr = Read-SharedText -Path "$Folder\stderr.txt"
    }
    elseif ($null -ne $task -and @('Running', 'Queued') -contains [string]$task.State) {
        $state.state = 'running'
        $state.progress = Read-SharedText -Path "$Folder\stderr.txt" -Tail $ProgressBytes
    }
    elseif ($null -ne $task -or (Test-Path -LiteralPath $Folder)) {
        $state.state = 'lost'
        if ($null -ne $task) { $state.task_result = [long]($task | Get-ScheduledTaskInfo).LastTaskResult }
        $state.stderr = Read-SharedText -Path "$Folder\stderr.txt"
    }
    return $state
}

$folder = "$DataMoverJobRoot\$JobId"
$name = Get-JobTaskName -JobId $JobId
$deadline = (Get-Date).AddSeconds($WaitSeconds)
$state = Get-DataMoverJob -Folder $folder -TaskName $name
while ($state.state -eq 'running' -and (Get-Date) -lt $deadline) {
    Start-Sleep -Milliseconds 500
    $state = Get-DataMoverJob -Folder $folder -TaskName $name
}
if ($Release -and $state.state -ne 'running') {
    if (Get-ScheduledTask -TaskPath $DataMoverTaskPath -TaskName $name -ErrorAction SilentlyContinue) {
        Unregister-ScheduledTask -TaskPath $DataMoverTaskPath -TaskName $name -Confirm:$false
    }
    if (Test-Path -LiteralPath $folder) { Remove-Item -LiteralPath $folder -Recurse -Force }
    $state.released = $true
}
return $state
