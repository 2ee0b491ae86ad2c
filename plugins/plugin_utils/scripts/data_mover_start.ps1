# data_mover_start.ps1: start one job of the data mover component installed on this proxy (requirement R3) as a
# one-time scheduled task running as LocalSystem, outside this WinRM shell (docs/backup.md, "Which identity
# reads what"; docs/datamover.md, "On a Windows proxy"). data_mover_poll.ps1 follows it and collects it.
#
# Why a scheduled task: a process this shell starts lives in the shell's job object, which WinRM ends at its
# quotas (MaxMemoryPerShellMB, MaxShellRunTime, IdleTimeout: "Installation and configuration for Windows Remote
# Management", https://learn.microsoft.com/windows/win32/winrm/installation-and-configuration-for-windows-remote-management),
# and its reads of \\server\share are a second hop the file server refuses without delegation. The task runs as
# NT AUTHORITY\SYSTEM (New-ScheduledTaskPrincipal -LogonType ServiceAccount,
# https://learn.microsoft.com/powershell/module/scheduledtasks/new-scheduledtaskprincipal), which reaches the
# network as the proxy's computer account: the identity R12 to R14 check on SMB3 shares.
#
# Params:
#   JobId      the job's id, chosen by the controller (32 hex digits). A start re-sent after a dropped connection
#              finds its task registered and starts nothing (already: true): the script is safe to send again.
#   Options    the options document (DataMoverOptions.to_json). It is written to options.json in the job's folder,
#              whose ACL grants only LocalSystem and Administrators; the engine deletes it once it has read it
#              ("datamover.pyz run --options-file"), and data_mover_poll.ps1 removes the folder when collected.
#              A start also removes the kept replies of released jobs older than a week (data_mover_common.ps1).
#   Component  '' or the name of the data mover component to run (the module's option component).
#   WaitSeconds, Release  as data_mover_poll.ps1's: once started, the script polls the job in the same round trip
#              (Wait-DataMoverJob), so a job that ends within WaitSeconds costs no poll of its own.
# Returns @{ component; found; outdated (Find-DataMover); job; started; already; poll }: started is $false when no
# data mover is installed (the controller says why: R3, or which to pick); already is $true when the job's task is
# registered or the job was already released (its kept reply, data_mover_common.ps1); poll is data_mover_poll.ps1's
# reply when WaitSeconds or Release was given, else $null.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][ValidatePattern('^[0-9a-f]{32}$')][string]$JobId,
    [Parameter(Mandatory = $true)][string]$Options,
    [string]$Component = '',
    [int]$WaitSeconds = 0,
    [bool]$Release = $false
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include process_common.ps1
#include records_common.ps1
#include values_common.ps1
#include data_mover_common.ps1

function New-JobFolder {
    # A folder whose ACL grants only LocalSystem and Administrators, not inherited, set as it is created: the
    # options document it receives may hold the passphrase. The jobs folder above it gets the same ACL.
    param([string]$Path)
    $security = New-Object System.Security.AccessControl.DirectorySecurity
    $security.SetAccessRuleProtection($true, $false)
    foreach ($sid in 'S-1-5-18', 'S-1-5-32-544') {
        $identity = New-Object System.Security.Principal.SecurityIdentifier($sid)
        $rule = New-Object System.Security.AccessControl.FileSystemAccessRule($identity, 'FullControl', 'ContainerInherit,ObjectInherit', 'None', 'Allow')
        $security.AddAccessRule($rule)
    }
    $security.SetOwner((New-Object System.Security.Principal.SecurityIdentifier('S-1-5-32-544')))
    if (-not (Test-Path -LiteralPath $DataMoverJobRoot)) { [void][IO.Directory]::CreateDirectory($DataMoverJobRoot, $security) }
    # Left by a start that failed before its task was registered: nothing runs from it.
    if (Test-Path -LiteralPath $Path) { Remove-Item -LiteralPath $Path -Recurse -Force }
    [void][IO.Directory]::CreateDirectory($Path, $security)
}

function Remove-OldKeptReply {
    # The last replies data_mover_poll.ps1 kept of released jobs (<job id>.json), once older than $KeptReplyDays:
    # a poll re-sent after a dropped connection comes within seconds, not days.
    $limit = (Get-Date).AddDays(-$KeptReplyDays)
    Get-ChildItem -LiteralPath $DataMoverJobRoot -Filter '*.json' -File | Where-Object { $_.LastWriteTime -lt $limit } |
        Remove-Item -Force
}

function Register-JobTask {
    # The one-time task: no trigger (Start-ScheduledTask starts it), no time limit (-ExecutionTimeLimit 0: a
    # backup of a large disk takes hours), normal priority (a task's default, 7, is below normal, with low I/O
    # priority): New-ScheduledTaskSettingsSet,
    # https://learn.microsoft.com/powershell/module/scheduledtasks/new-scheduledtasksettingsset;
    # Register-ScheduledTask, https://learn.microsoft.com/powershell/module/scheduledtasks/register-scheduledtask.
    # The action runs the runner as -EncodedCommand: a command, not a script file, which an execution policy
    # set by Group Policy does not block.
    param([string]$Folder, [string]$Runner)
    $encoded = [Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($Runner))
    $action = New-ScheduledTaskAction -Execute "$env:SystemRoot\System32\WindowsPowerShell\v1.0\powershell.exe" -Argument "-NoProfile -NonInteractive -EncodedCommand $encoded" -WorkingDirectory $Folder
    $principal = New-ScheduledTaskPrincipal -UserId 'NT AUTHORITY\SYSTEM' -LogonType ServiceAccount -RunLevel Highest
    $settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([TimeSpan]::Zero) -Priority 4 -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -MultipleInstances IgnoreNew
    $name = Get-JobTaskName -JobId $JobId
    [void](Register-ScheduledTask -TaskPath $DataMoverTaskPath -TaskName $name -Action $action -Principal $principal -Settings $settings)
    Start-ScheduledTask -TaskPath $DataMoverTaskPath -TaskName $name
}

function Start-DataMoverJob {
    # The job's folder and options document, then its task (the script's $JobId, $Options and $found).
    $folder = "$DataMoverJobRoot\$JobId"
    New-JobFolder -Path $folder
    Remove-OldKeptReply
    [IO.File]::WriteAllText("$folder\options.json", $Options, (New-Object System.Text.UTF8Encoding($false)))
    $arguments = '"' + $found.Engine + '" run --options-file "' + $folder + '\options.json" --progress'
    $runner = New-RedirectedRunner -FilePath $found.Runtime -Arguments $arguments -StdOut "$folder\stdout.txt" -StdErr "$folder\stderr.txt" -ExitCodeFile "$folder\exit_code.txt" -Environment @{ PYTHONIOENCODING = 'utf-8' }
    Register-JobTask -Folder $folder -Runner $runner
}

$found = Find-DataMover -Component $Component
$reply = $found.Reply
$reply.job = $JobId
$reply.started = $false
$reply.already = $false
$reply.poll = $null
if ($null -eq $found.Runtime) { return $reply }

# A start re-sent while the first one still runs here (WinRS keeps a command running after its client's
# connection dropped) waits for it, then finds its task.
$mutex = New-Object System.Threading.Mutex($false, "Global\backup.hyperv.data_mover.$JobId")
try { [void]$mutex.WaitOne() } catch [System.Threading.AbandonedMutexException] { }
try {
    $reply.started = $true
    $registered = Get-ScheduledTask -TaskPath $DataMoverTaskPath -TaskName (Get-JobTaskName -JobId $JobId) -ErrorAction SilentlyContinue
    # A start re-sent after its reply was lost may find its job ended and released already: its reply was kept.
    $reply.already = ($null -ne $registered) -or (Test-Path -LiteralPath (Get-KeptReplyPath -JobId $JobId) -PathType Leaf)
    if (-not $reply.already) { Start-DataMoverJob }
}
finally {
    $mutex.ReleaseMutex()
    $mutex.Dispose()
}
if ($WaitSeconds -gt 0 -or $Release) { $reply.poll = Wait-DataMoverJob -JobId $JobId -WaitSeconds $WaitSeconds -Release $Release }
return $reply
