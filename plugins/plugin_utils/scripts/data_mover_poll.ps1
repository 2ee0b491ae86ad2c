# data_mover_poll.ps1: the state of one data mover job data_mover_start.ps1 started (its scheduled task and
# job folder, data_mover_common.ps1), and its removal in the same round trip once it has ended (Release). Safe
# to send again: it reads, Release removes only what is still there, and the released job's last reply stays
# as <job id>.json in the jobs folder, so a poll re-sent after its reply was lost answers the same.
# Params:
#   JobId        the job's id (32 hex digits).
#   WaitSeconds  wait up to this long for a running job to end (its end seen within 20 ms), so that a short job
#                costs one poll and a long one a poll every WaitSeconds.
#   Release      once the job has ended (done or lost): keep this reply as <job id>.json in the jobs folder, then
#                unregister its task and remove its folder (Unregister-ScheduledTask,
#                https://learn.microsoft.com/powershell/module/scheduledtasks/unregister-scheduledtask). A
#                running job is not released: the controller sends Release with every poll.
#   KeepReply    $false: release without keeping the reply (a check run, which must leave nothing on the proxy,
#                polls without Release and releases after its last poll, when it holds the job's end already).
# Returns @{ job; state; progress; exit_code; stdout; stderr; task_result; released }. state: running (progress:
# the end of the engine's stderr, its progress line), done (exit_code, stdout, stderr), lost (the task ended
# without writing an exit code: task_result is its last run result, e.g. 0x80070002 for a file not found),
# absent (no task, no folder, no kept reply: never started, or removed). A released job answers its kept
# reply (released: true); data_mover_start.ps1 removes kept replies older than a week.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][ValidatePattern('^[0-9a-f]{32}$')][string]$JobId,
    [int]$WaitSeconds = 0,
    [bool]$Release = $false,
    [bool]$KeepReply = $true
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include data_mover_common.ps1

return (Wait-DataMoverJob -JobId $JobId -WaitSeconds $WaitSeconds -Release $Release -KeepReply $KeepReply)
