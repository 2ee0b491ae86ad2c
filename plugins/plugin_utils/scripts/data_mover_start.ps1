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
#   Server     $true: hand the job over to the component's job server (datamover/server.py), started first when
#              none is waiting and ServerIdleSeconds is more than 0; a server busy with another job, or one that
#              does not take the job within $ServerClaimSeconds, leaves it to a task of its own. $false (the
#              default; a check run): a one-time task of its own. docs/datamover.md, "The job server".
#   ServerIdleSeconds  how long the server stays after this job for the next one (0: it ends with this job).
#   WaitSeconds, Release  as data_mover_poll.ps1's: once started, the script polls the job in the same round trip
#              (Wait-DataMoverJob), so a job that ends within WaitSeconds costs no poll of its own.
# Returns @{ component; found; outdated (Find-DataMover); job; started; already; server; poll }: server is $true when
# the job server took the job; started is $false when no
# data mover is installed (the controller says why: R3, or which to pick); already is $true when the job's task is
# registered or the job was already released (its kept reply, data_mover_common.ps1); poll is data_mover_poll.ps1's
# reply when WaitSeconds or Release was given, else $null.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][ValidatePattern('^[0-9a-f]{32}$')][string]$JobId,
    [Parameter(Mandatory = $true)][string]$Options,
    [string]$Component = '',
    [bool]$Server = $false,
    [ValidateRange(0, 86400)][int]$ServerIdleSeconds = 0,
    [int]$WaitSeconds = 0,
    [bool]$Release = $false
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include process_common.ps1
#include records_common.ps1
#include values_common.ps1
#include data_mover_common.ps1

$JobFolderOwners = 'S-1-5-18', 'S-1-5-32-544'  # LocalSystem, Administrators: the only trustees of the jobs folder

function New-JobSecurity {
    # An ACL granting only LocalSystem and Administrators, not inherited, owner Administrators: a job's options
    # document may hold the passphrase, and the job server (LocalSystem) runs what lands in its inbox.
    $security = New-Object System.Security.AccessControl.DirectorySecurity
    $security.SetAccessRuleProtection($true, $false)
    foreach ($sid in $JobFolderOwners) {
        $identity = New-Object System.Security.Principal.SecurityIdentifier($sid)
        $rule = New-Object System.Security.AccessControl.FileSystemAccessRule($identity, 'FullControl', 'ContainerInherit,ObjectInherit', 'None', 'Allow')
        $security.AddAccessRule($rule)
    }
    $security.SetOwner((New-Object System.Security.Principal.SecurityIdentifier('S-1-5-32-544')))
    return $security
}

function Assert-JobRootParent {
    # The folder above the jobs folder (C:\ProgramData\backup.hyperv). Its owner may rename the jobs folder away and
    # put one of theirs in its place; ProgramData lets Users create folders and gives a creator full control of
    # theirs (CREATOR OWNER), so a local user who made it first would control the jobs and the server's inbox.
    # Owned by anyone but LocalSystem or Administrators: refused, nothing written.
    $parent = Split-Path -Parent $DataMoverJobRoot
    if (-not (Test-Path -LiteralPath $parent)) { return }
    $owner = (Get-Acl -LiteralPath $parent).GetOwner([System.Security.Principal.SecurityIdentifier]).Value
    if ($JobFolderOwners -notcontains $owner) {
        throw "$parent is owned by $owner, not by LocalSystem or Administrators: its owner could replace the data mover's jobs folder and have LocalSystem run their jobs. Nothing was started. Make Administrators its owner (icacls `"$parent`" /setowner *S-1-5-32-544), check who else may write there, then run again."
    }
}

function Protect-JobRoot {
    # The jobs folder with the ACL of New-JobSecurity: made with it, or given it again when it has another owner or
    # other trustees (a folder someone else made first, or an ACL changed since).
    Assert-JobRootParent
    $security = New-JobSecurity
    if (-not (Test-Path -LiteralPath $DataMoverJobRoot)) {
        [void][IO.Directory]::CreateDirectory($DataMoverJobRoot, $security)
        return
    }
    $acl = Get-Acl -LiteralPath $DataMoverJobRoot
    $owner = $acl.GetOwner([System.Security.Principal.SecurityIdentifier]).Value
    $foreign = @($acl.GetAccessRules($true, $true, [System.Security.Principal.SecurityIdentifier]) |
        Where-Object { $JobFolderOwners -notcontains $_.IdentityReference.Value -or [string]$_.AccessControlType -ne 'Allow' })
    if ($JobFolderOwners -notcontains $owner -or -not $acl.AreAccessRulesProtected -or $foreign.Count -gt 0) {
        [IO.Directory]::SetAccessControl($DataMoverJobRoot, $security)  # System.IO.Directory, .NET Framework 4
    }
}

function New-JobFolder {
    # The job's folder, with the ACL of New-JobSecurity set as it is created, in the jobs folder (Protect-JobRoot).
    param([string]$Path)
    Protect-JobRoot
    # Left by a start that failed before its task was registered: nothing runs from it.
    if (Test-Path -LiteralPath $Path) { Remove-Item -LiteralPath $Path -Recurse -Force }
    [void][IO.Directory]::CreateDirectory($Path, (New-JobSecurity))
}

function Remove-OldKeptReply {
    # The last replies data_mover_poll.ps1 kept of released jobs (<job id>.json), once older than $KeptReplyDays:
    # a poll re-sent after a dropped connection comes within seconds, not days.
    $limit = (Get-Date).AddDays(-$KeptReplyDays)
    Get-ChildItem -LiteralPath $DataMoverJobRoot -Filter '*.json' -File | Where-Object { $_.LastWriteTime -lt $limit } |
        Remove-Item -Force
}

function Register-RunnerTask {
    # A task that runs a runner (New-RedirectedRunner) as LocalSystem: no trigger (Start-ScheduledTask starts it),
    # no time limit (-ExecutionTimeLimit 0: a backup of a large disk takes hours), normal priority (a task's
    # default, 7, is below normal, with low I/O priority): New-ScheduledTaskSettingsSet,
    # https://learn.microsoft.com/powershell/module/scheduledtasks/new-scheduledtasksettingsset;
    # Register-ScheduledTask, https://learn.microsoft.com/powershell/module/scheduledtasks/register-scheduledtask
    # (-Force replaces a job server's task left from an earlier run, whose component may have moved).
    # The action runs the runner as -EncodedCommand: a command, not a script file, which an execution policy
    # set by Group Policy does not block.
    param([string]$Name, [string]$Folder, [string]$Runner)
    $encoded = [Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($Runner))
    $action = New-ScheduledTaskAction -Execute "$env:SystemRoot\System32\WindowsPowerShell\v1.0\powershell.exe" -Argument "-NoProfile -NonInteractive -EncodedCommand $encoded" -WorkingDirectory $Folder
    $principal = New-ScheduledTaskPrincipal -UserId 'NT AUTHORITY\SYSTEM' -LogonType ServiceAccount -RunLevel Highest
    $settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([TimeSpan]::Zero) -Priority 4 -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -MultipleInstances IgnoreNew
    [void](Register-ScheduledTask -TaskPath $DataMoverTaskPath -TaskName $Name -Action $action -Principal $principal -Settings $settings -Force)
    Start-ScheduledTask -TaskPath $DataMoverTaskPath -TaskName $Name
}

function New-EngineRunner {
    # The runner of "<runtime> <engine> <arguments>" with its output in $Folder.
    param([string]$Folder, [string]$Arguments)
    $line = '"' + $found.Engine + '" ' + $Arguments
    return (New-RedirectedRunner -FilePath $found.Runtime -Arguments $line -StdOut "$Folder\stdout.txt" -StdErr "$Folder\stderr.txt" -ExitCodeFile "$Folder\exit_code.txt" -Environment @{ PYTHONIOENCODING = 'utf-8' })
}

# How long a start waits for a job server it started to wait for jobs (the runtime's start and the engine's
# imports: well under a second on a proxy), and for a waiting server to take the job handed over (it looks every
# 20 ms when idle); past either, the job runs as a task of its own.
$ServerStartSeconds = 15
$ServerClaimSeconds = 2
$ServerLookMilliseconds = 20
$EngineUsageError = 2  # the engine's exit status for a command line it does not know: an engine without "serve"

function Start-DataMoverServer {
    # Start the job server $Name (its task registered anew) unless its task runs (busy with a job: this one then
    # runs as a task of its own) or its engine said it has no server (an older engine: its exit code in the
    # server's folder), and wait until it waits for jobs; $true once it does. One start at a time starts it (a
    # mutex of the server): a second start finds it waiting, or running.
    param([string]$Name, [string]$Folder)
    $mutex = New-Object System.Threading.Mutex($false, "Global\backup.hyperv.data_mover.server.$($Name -replace ' ', '_')")
    try { [void]$mutex.WaitOne() } catch [System.Threading.AbandonedMutexException] { }
    try {
        if (Test-Path -LiteralPath "$Folder\$ServerAccepting") { return $true }
        $taskName = Get-ServerTaskName -Name $Name
        $task = Get-ScheduledTask -TaskPath $DataMoverTaskPath -TaskName $taskName -ErrorAction SilentlyContinue
        if ($null -ne $task -and @('Running', 'Queued') -contains [string]$task.State) { return $false }
        $ended = "$Folder\exit_code.txt"
        if ((Test-Path -LiteralPath $ended -PathType Leaf) -and [int](Get-Content -LiteralPath $ended -Raw).Trim() -eq $EngineUsageError) { return $false }
        # The jobs folder's ACL (Protect-JobRoot, which the job's folder made before this), inherited.
        if (-not (Test-Path -LiteralPath $Folder)) { [void][IO.Directory]::CreateDirectory($Folder) }
        Remove-Item -LiteralPath $ended -Force -ErrorAction SilentlyContinue
        $arguments = 'serve --jobs "' + $DataMoverJobRoot + '" --name "' + $Name + '" --idle-seconds ' + $ServerIdleSeconds
        Register-RunnerTask -Name $taskName -Folder $Folder -Runner (New-EngineRunner -Folder $Folder -Arguments $arguments)
        $until = (Get-Date).AddSeconds($ServerStartSeconds)
        while (-not (Test-Path -LiteralPath "$Folder\$ServerAccepting") -and (Get-Date) -lt $until -and -not (Test-Path -LiteralPath $ended)) {
            Start-Sleep -Milliseconds $ServerLookMilliseconds
        }
        return (Test-Path -LiteralPath "$Folder\$ServerAccepting")
    }
    finally {
        $mutex.ReleaseMutex()
        $mutex.Dispose()
    }
}

function Send-JobToServer {
    # Hand the job of $Folder over to the component's job server (datamover/server.py says how), started first
    # when none waits and $ServerIdleSeconds asks for one; $true once the server claimed it, $false when the job is
    # to run as a task of its own (no server, a busy one, or none that claimed it in time: taken back).
    param([string]$Folder)
    if (-not $Server) { return $false }
    $component = $found.Reply.component
    $name = "$($component.Name) $($component.Version)"
    if ($name -notmatch $ServerNamePattern) { return $false }
    $serverFolder = "$DataMoverServerRoot\$name"
    if (-not (Test-Path -LiteralPath "$serverFolder\$ServerAccepting")) {
        if ($ServerIdleSeconds -eq 0 -or -not (Start-DataMoverServer -Name $name -Folder $serverFolder)) { return $false }
    }
    # Written under another name, then renamed into the inbox: the server never claims an entry half written.
    $handed = "$serverFolder\$ServerInbox\$JobId"
    $text = (Get-ServerTaskName -Name $name) + "`n" + $ServerIdleSeconds + "`n"
    [IO.File]::WriteAllText("$handed.tmp", $text, (New-Object System.Text.UTF8Encoding($false)))
    [IO.File]::Move("$handed.tmp", $handed)
    $until = (Get-Date).AddSeconds($ServerClaimSeconds)
    while ((Get-Date) -lt $until) {
        if (Test-Path -LiteralPath "$Folder\$ServerClaimed" -PathType Leaf) { return $true }
        Start-Sleep -Milliseconds $ServerLookMilliseconds
    }
    # Taken back, unless the server claimed it since the last look: of the two renames only one succeeds.
    try { [IO.File]::Move($handed, "$Folder\$ServerUnclaimed") }
    catch [IO.FileNotFoundException] { return $true }
    catch {
        # Any other failure leaves the entry in the inbox, where a server could still take it: a start re-sent
        # after this one failed takes it back first (Undo-HandOver).
        if (Test-Path -LiteralPath "$Folder\$ServerClaimed" -PathType Leaf) { return $true }
        throw
    }
    # It did not take the job: it is not waiting (a server that is shows the file again at its next look).
    Remove-Item -LiteralPath "$serverFolder\$ServerAccepting" -Force -ErrorAction SilentlyContinue
    return $false
}

function Undo-HandOver {
    # A hand-over of this job left in a server's inbox by a start whose shell ended before it took the job back
    # (WinRS ends a command whose client's connection dropped): taken back now, before the job's folder is made
    # anew, so that no server runs the job besides this start's. $true when a server claimed it meanwhile: the job
    # is the server's (already started).
    foreach ($entry in @(Get-ChildItem -Path "$DataMoverServerRoot\*\$ServerInbox\$JobId" -File -ErrorAction SilentlyContinue)) {
        try { [IO.File]::Move($entry.FullName, "$($entry.FullName).taken") }
        catch [IO.FileNotFoundException] { return $true }
        Remove-Item -LiteralPath "$($entry.FullName).taken" -Force
    }
    return $false
}

function Start-DataMoverJob {
    # The job's folder and options document, then the job server or the job's own task (the script's $JobId,
    # $Options and $found); $true when the server took it.
    $folder = "$DataMoverJobRoot\$JobId"
    New-JobFolder -Path $folder
    Remove-OldKeptReply
    [IO.File]::WriteAllText("$folder\options.json", $Options, (New-Object System.Text.UTF8Encoding($false)))
    if (Send-JobToServer -Folder $folder) { return $true }
    $arguments = 'run --options-file "' + $folder + '\options.json" --progress'
    Register-RunnerTask -Name (Get-JobTaskName -JobId $JobId) -Folder $folder -Runner (New-EngineRunner -Folder $folder -Arguments $arguments)
    return $false
}

$found = Find-DataMover -Component $Component
$reply = $found.Reply
$reply.job = $JobId
$reply.started = $false
$reply.already = $false
$reply.server = $false
$reply.poll = $null
if ($null -eq $found.Runtime) { return $reply }

# A start re-sent while the first one still runs here (WinRS keeps a command running after its client's
# connection dropped) waits for it, then finds its task.
$mutex = New-Object System.Threading.Mutex($false, "Global\backup.hyperv.data_mover.$JobId")
try { [void]$mutex.WaitOne() } catch [System.Threading.AbandonedMutexException] { }
try {
    $reply.started = $true
    $registered = Get-ScheduledTask -TaskPath $DataMoverTaskPath -TaskName (Get-JobTaskName -JobId $JobId) -ErrorAction SilentlyContinue
    $claimed = Test-Path -LiteralPath "$DataMoverJobRoot\$JobId\$ServerClaimed" -PathType Leaf
    # A start re-sent after its reply was lost may find its job ended and released already: its reply was kept.
    $reply.already = ($null -ne $registered) -or $claimed -or (Test-Path -LiteralPath (Get-KeptReplyPath -JobId $JobId) -PathType Leaf)
    if (-not $reply.already -and (Undo-HandOver)) {
        $reply.already = $true
        $claimed = $true
    }
    $reply.server = $claimed
    if (-not $reply.already) { $reply.server = Start-DataMoverJob }
}
finally {
    $mutex.ReleaseMutex()
    $mutex.Dispose()
}
if ($WaitSeconds -gt 0 -or $Release) { $reply.poll = Wait-DataMoverJob -JobId $JobId -WaitSeconds $WaitSeconds -Release $Release }
return $reply
