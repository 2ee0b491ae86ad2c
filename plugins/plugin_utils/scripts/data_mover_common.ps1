# The data mover component on this proxy, and where its jobs live; shared by data_mover_run, data_mover_start
# and data_mover_poll, which include it (#include data_mover_common.ps1) after records_common.ps1 and
# values_common.ps1. The collection's action plugins send each script with its includes expanded
# (plugin_utils/_pwsh.py).

# A job's folder: the options document (deleted by the engine once read), the engine's stdout, stderr and exit
# code. Its ACL grants only LocalSystem and Administrators (New-JobFolder): the document may hold the passphrase.
$DataMoverJobRoot = [Environment]::GetFolderPath('CommonApplicationData') + '\backup.hyperv\jobs'
# The job's one-time scheduled task: \backup.hyperv\data mover <job id>.
$DataMoverTaskPath = '\backup.hyperv\'

function Get-JobTaskName {
    param([string]$JobId)
    return "data mover $JobId"
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
