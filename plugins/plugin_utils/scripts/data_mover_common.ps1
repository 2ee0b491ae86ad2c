# The data mover component on this proxy, and where its jobs live; shared by data_mover_run, data_mover_start
# and data_mover_poll, which include it (#include data_mover_common.ps1) after records_common.ps1 and
# values_common.ps1. The collection's action plugins send each script with its includes expanded
# (plugin_utils/_pwsh.py).

# A job's folder: the options document (deleted by the engine once read), the engine's stdout, stderr and exit
# code. Its ACL grants only LocalSystem and Administrators (New-JobFolder): the document may hold the passphrase.
$DataMoverJobRoot = [Environment]::GetFolderPath('CommonApplicationData') + '\backup.hyperv\jobs'
# The job's one-time scheduled task: \backup.hyperv\data mover <job id>.
$DataMoverTaskPath = '\backup.hyperv\'

# A released job's last poll reply, kept in the jobs folder (its ACL) so that a re-sent poll answers the same;
# data_mover_start.ps1 removes those older than $KeptReplyDays.
$KeptReplyDays = 7
function Get-KeptReplyPath {
    param([string]$JobId)
    return "$DataMoverJobRoot\$JobId.json"
}

function Get-JobTaskName {
    param([string]$JobId)
    return "data mover $JobId"
}

# The data mover's job server (datamover/server.py, "hyperv-datamover serve"): one process that runs a backup
# run's jobs on this proxy one after another, its scheduled task \backup.hyperv\data mover server <name>, its
# folder $DataMoverJobRoot\server\<name>, <name> the component's name and version. The file names below are the
# engine's (server.py): a start hands a job over by creating inbox\<job id> (its first line the server's task
# name, its second how long the server stays after the job); the server claims it by renaming it to
# <job folder>\claimed, a start takes it back by renaming it to <job folder>\unclaimed: only one rename succeeds.
$DataMoverServerRoot = "$DataMoverJobRoot\server"
$ServerAccepting = 'accepting'
$ServerInbox = 'inbox'
$ServerClaimed = 'claimed'
$ServerUnclaimed = 'unclaimed'
$ServerRunning = 'running'  # in a claimed job's folder: the server holds a lock on its first byte while it runs it
$ServerNamePattern = '^[A-Za-z0-9](?:[A-Za-z0-9_. -]*[A-Za-z0-9_-])?$'  # no space or '.' last: Windows strips them

function Get-ServerTaskName {
    param([string]$Name)
    return "data mover server $Name"
}

function Get-JobRunnerTaskName {
    # The task that runs the job: the server's once it claimed the job (the first line of claimed), else its own.
    param([string]$JobId, [string]$Folder)
    $claimed = "$Folder\$ServerClaimed"
    if (Test-Path -LiteralPath $claimed -PathType Leaf) {
        $name = @(Get-Content -LiteralPath $claimed -Encoding UTF8)[0]
        if ($name) { return $name }
    }
    return (Get-JobTaskName -JobId $JobId)
}

function Find-DataMover {
    # The data mover is found by the records proxy_components wrote under $ComponentRecordRoot whose Role is
    # data_mover (their Destination, and Runtime and Engine relative to it). One (or the one named Component):
    # installed means its Version is recorded and both files exist. Returns @{ Reply = [ordered]@{ component =
    # @{Name; Version; Destination; Missing} or $null; found = names of the data mover records; outdated = names
    # of records without Role (an older version wrote them) }; Runtime; Engine }, Runtime and Engine $null unless
    # it is installed (the controller then says why: R3, or which to pick).
    param([string]$Component)
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
    $result = @{ Reply = [ordered]@{ component = $null; found = $found; outdated = $outdated }; Runtime = $null; Engine = $null }
    if ($records.Count -ne 1) { return $result }
    $record = $records[0]
    $destination = [string]$record.GetValue('Destination', '')
    $paths = @([string]$record.GetValue('Runtime', ''), [string]$record.GetValue('Engine', '')) | ForEach-Object {
        if ($_) { Join-HostPath -Folder $destination -RelativePath $_ } else { '' }
    }
    $missing = New-List
    foreach ($index in 0, 1) {
        if (-not $paths[$index] -or -not (Test-Path -LiteralPath $paths[$index] -PathType Leaf)) {
            $missing.Add([string]$record.GetValue(@('Runtime', 'Engine')[$index], ''))
        }
    }
    $version = $record.GetValue('Version', $null)
    $result.Reply.component = [ordered]@{ Name = $record.PSChildName; Version = $version; Destination = $destination; Missing = $missing }
    if ($null -ne $version -and $missing.Count -eq 0) { $result.Runtime = $paths[0]; $result.Engine = $paths[1] }
    return $result
}

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

function Test-JobRunning {
    # Whether the server still runs the claimed job of $Folder: it holds a lock on the first byte of its running
    # file from before the claim until after the exit code (server.py; msvcrt.locking is LockFile, which
    # FileStream.Lock meets: https://learn.microsoft.com/dotnet/api/system.io.filestream.lock). A server that died
    # or was stopped holds nothing: the lock goes with its process.
    param([string]$Folder)
    $path = "$Folder\$ServerRunning"
    if (-not (Test-Path -LiteralPath $path -PathType Leaf)) { return $false }
    $stream = [IO.File]::Open($path, 'Open', 'Read', 'ReadWrite')
    try {
        try { $stream.Lock(0, 1) } catch [IO.IOException] { return $true }
        $stream.Unlock(0, 1)
        return $false
    }
    finally { $stream.Dispose() }
}

function Get-DataMoverJob {
    param([string]$JobId, [string]$Folder)
    $state = [ordered]@{ job = $JobId; state = 'absent'; progress = $null; exit_code = $null; stdout = ''; stderr = ''; task_result = $null; released = $false }
    # The task (or the server's lock on a claimed job) first, then the exit code: both the runner and the server
    # write the exit code before the task ends or the lock is released, so no exit code after either means lost.
    # A claimed job is followed by its server's lock (a file query), a job of its own by its task (Get-ScheduledTask,
    # a CIM call), which a claimed job needs only once lost, to say how its server ended.
    $claimed = Test-Path -LiteralPath "$Folder\$ServerClaimed" -PathType Leaf
    $task = $null
    if ($claimed) { $running = Test-JobRunning -Folder $Folder }
    else {
        $task = Get-ScheduledTask -TaskPath $DataMoverTaskPath -TaskName (Get-JobTaskName -JobId $JobId) -ErrorAction SilentlyContinue
        $running = $null -ne $task -and @('Running', 'Queued') -contains [string]$task.State
    }
    if (Test-Path -LiteralPath "$Folder\exit_code.txt" -PathType Leaf) {
        $state.state = 'done'
        $state.exit_code = [int](Get-Content -LiteralPath "$Folder\exit_code.txt" -Raw).Trim()
        $state.stdout = Read-SharedText -Path "$Folder\stdout.txt"
        $state.stderr = Read-SharedText -Path "$Folder\stderr.txt"
    }
    elseif ($running) {
        $state.state = 'running'
        $state.progress = Read-SharedText -Path "$Folder\stderr.txt" -Tail $ProgressBytes
    }
    elseif ($null -ne $task -or (Test-Path -LiteralPath $Folder)) {
        # A claimed job's task is the server's: its last result says how the server ended, if it has.
        $state.state = 'lost'
        if ($claimed) { $task = Get-ScheduledTask -TaskPath $DataMoverTaskPath -TaskName (Get-JobRunnerTaskName -JobId $JobId -Folder $Folder) -ErrorAction SilentlyContinue }
        if ($null -ne $task) { $state.task_result = [long]($task | Get-ScheduledTaskInfo).LastTaskResult }
        $state.stderr = Read-SharedText -Path "$Folder\stderr.txt"
    }
    return $state
}

# A waiting poll looks for the exit code file every $ExitCodeLookMilliseconds (a file system query: the job's end
# is seen within that, not within a second) and reads the task's state (Get-ScheduledTask, a CIM call) every
# $TaskLookSeconds, which is how it sees a task that ended without writing an exit code.
$ExitCodeLookMilliseconds = 20
$TaskLookSeconds = 1

function Wait-ExitCodeFile {
    # Until the runner has renamed the exit code file into place (New-RedirectedRunner), or $Until.
    param([string]$Path, [datetime]$Until)
    while (-not (Test-Path -LiteralPath $Path -PathType Leaf) -and (Get-Date) -lt $Until) {
        Start-Sleep -Milliseconds $ExitCodeLookMilliseconds
    }
}

function Wait-DataMoverJob {
    # data_mover_poll.ps1's reply (its header says what it holds): wait up to $WaitSeconds for a running job to
    # end, then, with $Release, release a job that ended, keeping this reply first. Shared by
    # data_mover_start.ps1, whose WaitSeconds makes a short job cost no poll at all. $KeepReply $false: the caller
    # has the job's end already (a check run releases it after its last poll), so nothing stays on the proxy.
    param([string]$JobId, [int]$WaitSeconds, [bool]$Release, [bool]$KeepReply = $true)
    $folder = "$DataMoverJobRoot\$JobId"
    $kept = Get-KeptReplyPath -JobId $JobId
    $name = Get-JobTaskName -JobId $JobId
    $deadline = (Get-Date).AddSeconds($WaitSeconds)
    $state = Get-DataMoverJob -JobId $JobId -Folder $folder
    while ($state.state -eq 'running' -and (Get-Date) -lt $deadline) {
        $look = (Get-Date).AddSeconds($TaskLookSeconds)
        if ($look -gt $deadline) { $look = $deadline }
        Wait-ExitCodeFile -Path "$folder\exit_code.txt" -Until $look
        $state = Get-DataMoverJob -JobId $JobId -Folder $folder
    }
    if ($state.state -eq 'absent' -and (Test-Path -LiteralPath $kept -PathType Leaf)) {
        return (Get-Content -LiteralPath $kept -Raw -Encoding UTF8 | ConvertFrom-Json)  # released by an earlier poll
    }
    if ($Release -and $state.state -ne 'running') {
        $state.released = $true
        if ($KeepReply -and $state.state -ne 'absent') {
            # Kept before anything is removed: a poll re-sent after this one's reply was lost answers the same.
            $json = ConvertTo-Json -InputObject $state -Depth 4 -Compress
            [IO.File]::WriteAllText($kept, $json, (New-Object System.Text.UTF8Encoding($false)))
        }
        if (Get-ScheduledTask -TaskPath $DataMoverTaskPath -TaskName $name -ErrorAction SilentlyContinue) {
            Unregister-ScheduledTask -TaskPath $DataMoverTaskPath -TaskName $name -Confirm:$false
        }
        if (Test-Path -LiteralPath $folder) { Remove-Item -LiteralPath $folder -Recurse -Force }
    }
    return $state
}
