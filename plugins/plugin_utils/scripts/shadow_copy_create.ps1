# Create of backup.hyperv.shadow_copy, on the source Hyper-V host: one transportable snapshot set of the
# given volumes, taken with DiskShadow with the Hyper-V VSS writer involved, and its metadata exported.
# https://learn.microsoft.com/windows-server/administration/windows-commands/diskshadow
#   set context persistent / set option transportable   the set survives DiskShadow and is not surfaced here
#   set metadata <cab>                                  where the Backup Components Document is saved
#   writer verify {66841cd4-...}                        fail unless the Hyper-V VSS writer takes part
#   begin backup / add volume <v> alias VolN / create / end backup
# DiskShadow's text is translated with the Windows display language (a German Windows prints "Schattenkopie-ID"), so
# no label of it is read. The ids come from DiskShadow's alias environment: after `create` each alias (VolN, and
# VSS_SHADOW_SET for the set) is an environment variable holding the id in braces, and `exec <file.cmd>` runs a cmd
# script with that environment, which writes them to a file (a failing exec ends DiskShadow with an error).
# https://learn.microsoft.com/windows-server/administration/windows-commands/add-volume   (alias)
# https://learn.microsoft.com/windows-server/administration/windows-commands/exec
# With -Transportable $false the volumes are SMB3 shares (\\server\share\): "add volume \\fs1\vms\" goes through
# the File Share Shadow Copy Provider to the File Server VSS Agent Service on the file server (VSS for SMB File
# Shares, Windows Server 2012 and later, MS-FSRVP), which shadows the volume behind the share and exposes the copy
# as a shadow copy share (\\server\share@{GUID}) until the set is deleted. The file server names that share:
# it is the copy's device name in DiskShadow's report of the created set, found by its shape (Get-ShareName).
# Such a set is not transportable: the proxy reads the shadow copy share, nothing is imported. The copies are
# recorded in <MetadataDir>\<set id>.shares.json so the read and release scripts find them without relying on this
# host's Win32_ShadowCopy listing copies held by the file server.
# The metadata file is renamed to <set id>.cab under -MetadataDir and returned base64-encoded, so the
# proxy can import the set without a file copy.
# Returns @{ SnapshotSetId; Shadows = @(@{ ShadowId; Alias; Volume; ShadowCopyShare }); MetadataPath; Metadata;
# Unsupported = @(@{ Volume; Alias; Message }) } (ShadowCopyShare is $null for local and cluster shared volumes).
# A volume no VSS provider of this host supports in the set's context fails `add volume` with VSS_E_VOLUME_NOT_SUPPORTED
# (0x8004230C: no provider supports it) or VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER (0x8004230E)
# (IVssBackupComponents::AddToSnapshotSet,
# https://learn.microsoft.com/windows/win32/api/vsbackup/nf-vsbackup-ivssbackupcomponents-addtosnapshotset): for a
# transportable set, a volume on a disk of the host itself (its system volume, direct-attached storage) that no hardware
# provider serves. DiskShadow stops at the failing command and creates nothing; `set verbose on` makes it echo each
# command ("-> add volume ... alias Vol2") before running it, so the last command echoed names the volume by its alias
# (ours, not DiskShadow's translated words). With -SkipUnsupported the set is created again without that volume and
# the volume listed in Unsupported, for the caller to fail the VMs that have files there; without it, or when no
# volume is left, the script fails naming the volume.
# VSS creates one shadow copy set at a time on a host: from StartSnapshotSet until DoSnapshotSet returns, another
# requester's StartSnapshotSet fails with VSS_E_SNAPSHOT_SET_IN_PROGRESS (0x80042316), and Microsoft tells that
# requester to wait and retry.
# https://learn.microsoft.com/windows/win32/vss/state-transitions-in-shadow-copy-providers
# https://learn.microsoft.com/windows/win32/api/vsbackup/nf-vsbackup-ivssbackupcomponents-startsnapshotset
# Two proxies of one run back up volume groups of the same host at once, so this script's own runs queue on a named
# mutex of the host (Global\, so every WinRM session shares it) instead of refusing each other; another requester
# (a backup application, Windows Server Backup, a storage snapshot schedule) is waited for by trying again every
# $InProgressRetrySeconds until -InProgressTimeoutSeconds (the modules' vss_wait_timeout, default 600). DiskShadow's
# wording of this failure is not documented: the retry looks for the HRESULT or its name anywhere in its output,
# and any other failure fails at once.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][object[]]$Volumes,
    [Parameter(Mandatory = $true)][string]$MetadataDir,
    [bool]$Transportable = $true,
    [Parameter(Mandatory = $true)][int]$InProgressTimeoutSeconds,
    [bool]$SkipUnsupported = $false
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$HyperVWriterId = '{66841cd4-6ded-4f4b-8f17-fd23f8ddc3de}'
$GuidPattern = '\{[0-9A-Fa-f-]{36}\}'
$CreationMutex = 'Global\backup.hyperv.shadow_copy_create'
$InProgressPattern = '0x80042316|VSS_E_SNAPSHOT_SET_IN_PROGRESS'
$InProgressRetrySeconds = 15
$UnsupportedPattern = '8004230[CcEe]|VSS_E_VOLUME_NOT_SUPPORTED'

#include diskshadow_common.ps1

function Invoke-DiskShadowCreate {
    # Invoke-DiskShadow, tried again while another requester is creating a set on this host, until the deadline.
    param([string[]]$Lines, [string]$Folder)
    $deadline = [DateTime]::UtcNow.AddSeconds($InProgressTimeoutSeconds)
    while ($true) {
        try { return Invoke-DiskShadow -Lines $Lines -Folder $Folder -What 'creating the shadow copy set' }
        catch {
            $output = "$($_.Exception.Data['Output'])"
            if ($output -notmatch $InProgressPattern) { throw }
            if ([DateTime]::UtcNow -ge $deadline) {
                throw ("another requester kept creating a shadow copy set on this host for $InProgressTimeoutSeconds s " +
                    '(VSS_E_SNAPSHOT_SET_IN_PROGRESS: VSS creates one set at a time). A backup application, Windows ' +
                    'Server Backup or a storage snapshot schedule is running on this host: schedule it apart from this ' +
                    "job. $($_.Exception.Message)")
            }
            Start-Sleep -Seconds $InProgressRetrySeconds
        }
    }
}

function Enter-CreationMutex {
    # The host's mutex of this script, held (the caller releases it); an abandoned one (its holder's process ended)
    # is held by this run. $null when another run of this script kept it past the deadline.
    $mutex = [System.Threading.Mutex]::new($false, $CreationMutex)
    try { $held = $mutex.WaitOne([TimeSpan]::FromSeconds($InProgressTimeoutSeconds)) }
    catch [System.Threading.AbandonedMutexException] { $held = $true }
    if ($held) { return $mutex }
    $mutex.Dispose()
    return $null
}

function Get-ShareName {
    # The shadow copy share by its shape, not its label: the first \\server\share@{GUID} path DiskShadow prints after
    # the copy's id last appears (its entry in the report of the set). The server may be a cluster node's name.
    param([string]$Output, [string]$ShadowId)
    $at = $Output.LastIndexOf($ShadowId, [System.StringComparison]::OrdinalIgnoreCase)
    $match = if ($at -ge 0) { [regex]::Match($Output.Substring($at), "\\\\[^\\\s]+\\[^\s]*@$GuidPattern\S*") }
    if (-not $match -or -not $match.Success) { throw "diskshadow printed no shadow copy share path after $ShadowId" }
    return $match.Value
}

function Get-VolumeArgument {
    # A drive root and a share (\\server\share\) keep their backslash; a mount point folder is named without one.
    param([string]$Path)
    if ($Path.Length -le 3 -or $Path.StartsWith('\\')) { return $Path }
    return $Path.TrimEnd('\')
}

function New-AliasScript {
    # The cmd script DiskShadow's exec runs after create: it writes NAME=%NAME% for each alias to $IdsFile.
    param([string[]]$Aliases, [string]$Folder, [string]$IdsFile)
    $cmd = Join-Path -Path $Folder -ChildPath 'aliases.cmd'
    $body = @('@echo off', "type nul > `"$IdsFile`"")
    # The redirection first: a value ending in a digit would otherwise read as a stream number ("1>>").
    $body += foreach ($alias in $Aliases) { ">> `"$IdsFile`" echo $alias=%$alias%" }
    Set-Content -LiteralPath $cmd -Value $body -Encoding ASCII
    return $cmd
}

function Read-AliasId {
    # Alias name -> id (lower case) from the file the exec script wrote; an alias DiskShadow did not set expands to
    # nothing in the cmd script and fails here.
    param([string]$IdsFile, [string[]]$Aliases)
    $ids = @{}
    foreach ($line in Get-Content -LiteralPath $IdsFile) {
        $name, $value = "$line" -split '=', 2
        $ids[$name.Trim()] = "$value".Trim()
    }
    foreach ($alias in $Aliases) {
        $id = "$($ids[$alias])"
        if ($id -notmatch "^$GuidPattern$") { throw "diskshadow set no id for alias $alias (got '$id')" }
        $ids[$alias] = $ids[$alias].ToLowerInvariant()
    }
    return $ids
}

function New-CreateLines {
    # The DiskShadow script that creates one set of $Selected, exports its metadata to $Cab and has $IdsFile written.
    param([object[]]$Selected, [string]$Cab, [string]$Folder, [string]$IdsFile)
    $lines = [System.Collections.Generic.List[string]]::new()
    $lines.Add('set verbose on')
    $lines.Add('set context persistent')
    if ($Transportable) { $lines.Add('set option transportable') }
    $lines.Add("set metadata `"$Cab`"")
    $lines.Add("writer verify $HyperVWriterId")
    $lines.Add('begin backup')
    foreach ($volume in $Selected) {
        # The alias becomes a cmd environment variable name in aliases.cmd: letters, digits and underscores only.
        $alias = "$($volume.Alias)"
        if ($alias -notmatch '^[A-Za-z][A-Za-z0-9_]*$') { throw "alias '$alias' is not a plain name" }
        $lines.Add("add volume `"$(Get-VolumeArgument -Path $volume.Path)`" alias $alias")
    }
    $lines.Add('create')
    $aliases = @('VSS_SHADOW_SET') + @($Selected | ForEach-Object { "$($_.Alias)" })
    $lines.Add("exec `"$(New-AliasScript -Aliases $aliases -Folder $Folder -IdsFile $IdsFile)`"")
    $lines.Add('end backup')
    return , $lines.ToArray()
}

function Get-UnsupportedAlias {
    # The alias of the volume DiskShadow refused as unsupported: the last command it echoed is that `add volume`; $null
    # for any other failure.
    param([string]$Output)
    if ($Output -notmatch $UnsupportedPattern) { return $null }
    $commands = @([regex]::Matches($Output, '(?m)^\s*->\s*(.+?)\s*$') | ForEach-Object { $_.Groups[1].Value })
    if (-not $commands) { return $null }
    $last = [regex]::Match($commands[-1], '^add volume\s.*\balias\s+([A-Za-z][A-Za-z0-9_]*)$', 'IgnoreCase')
    if ($last.Success) { return $last.Groups[1].Value }
    return $null
}

function Get-UnsupportedMessage {
    param([string[]]$Paths, [string]$Detail)
    $kind = if ($Transportable) { 'transportable shadow copy set' } else { 'shadow copy set' }
    return ("no VSS provider of this host can put $($Paths -join ', ') in a $kind (VSS_E_VOLUME_NOT_SUPPORTED): an " +
        'off-host proxy imports hardware snapshots of SAN LUNs it is presented, so a VM whose files are on a disk of ' +
        'the host itself cannot be backed up off-host. Move its files (configuration, checkpoints, disks) to a Cluster ' +
        'Shared Volume or an SMB3 share the proxy reads (Move-VMStorage), or back it up on the host. ' + $Detail)
}

$null = New-Item -ItemType Directory -Path $MetadataDir -Force
$work = Join-Path -Path $MetadataDir -ChildPath ([guid]::NewGuid().ToString())
$null = New-Item -ItemType Directory -Path $work
try {
    $cab = Join-Path -Path $work -ChildPath 'metadata.cab'
    $idsFile = Join-Path -Path $work -ChildPath 'aliases.txt'
    $selected = @($Volumes)
    $unsupported = [System.Collections.Generic.List[object]]::new()
    $mutex = Enter-CreationMutex
    if (-not $mutex) {
        throw "another run of this script kept creating a shadow copy set on this host for $InProgressTimeoutSeconds s"
    }
    try {
        while ($true) {
            $lines = New-CreateLines -Selected $selected -Cab $cab -Folder $work -IdsFile $idsFile
            try {
                $output = Invoke-DiskShadowCreate -Lines $lines -Folder $work
                break
            }
            catch {
                $failure = $_
                $alias = Get-UnsupportedAlias -Output "$($failure.Exception.Data['Output'])"
                $refused = @(if ($alias) { $selected | Where-Object { "$($_.Alias)" -eq $alias } })
                if ($refused.Count -eq 0) { throw $failure }
                $paths = @($unsupported | ForEach-Object { $_.Volume }) + @("$($refused[0].Path)")
                $selected = @($selected | Where-Object { "$($_.Alias)" -ne $alias })
                if (-not $SkipUnsupported -or $selected.Count -eq 0) {
                    throw (Get-UnsupportedMessage -Paths $paths -Detail $failure.Exception.Message)
                }
                $message = Get-UnsupportedMessage -Paths @("$($refused[0].Path)") -Detail $failure.Exception.Message
                $unsupported.Add([ordered]@{ Volume = "$($refused[0].Path)"; Alias = $alias; Message = $message })
            }
        }
    }
    finally {
        $mutex.ReleaseMutex()
        $mutex.Dispose()
    }

    # The exit code alone is not trusted: a set whose metadata file was not written cannot be imported. (A transportable
    # set is not surfaced on this host, so Win32_ShadowCopy here cannot confirm it; the import on the proxy does.)
    if (-not (Test-Path -LiteralPath $cab -PathType Leaf) -or (Get-Item -LiteralPath $cab).Length -eq 0) {
        throw "diskshadow reported success but wrote no metadata file ($cab)"
    }
    $aliases = @('VSS_SHADOW_SET') + @($selected | ForEach-Object { "$($_.Alias)" })
    $ids = Read-AliasId -IdsFile $idsFile -Aliases $aliases
    $setId = $ids['VSS_SHADOW_SET']
    $shadows = foreach ($volume in $selected) {
        $shadowId = $ids["$($volume.Alias)"]
        $share = if ("$($volume.Path)".StartsWith('\\')) { Get-ShareName -Output $output -ShadowId $shadowId } else { $null }
        [ordered]@{ ShadowId = $shadowId; Alias = "$($volume.Alias)"; Volume = "$($volume.Path)"; ShadowCopyShare = $share }
    }
    if (-not $Transportable) {
        $record = Join-Path -Path $MetadataDir -ChildPath "$($setId.Trim('{', '}')).shares.json"
        $entries = foreach ($shadow in $shadows) {
            [ordered]@{ ID = $shadow.ShadowId; SetID = $setId; VolumeName = $shadow.Volume; ShadowCopyShare = $shadow.ShadowCopyShare }
        }
        Set-Content -LiteralPath $record -Value (ConvertTo-Json -InputObject @($entries) -Depth 3) -Encoding UTF8
    }
    $metadataPath = Join-Path -Path $MetadataDir -ChildPath "$($setId.Trim('{', '}')).cab"
    Move-Item -LiteralPath $cab -Destination $metadataPath -Force
    $metadata = [Convert]::ToBase64String([System.IO.File]::ReadAllBytes($metadataPath))
    return [ordered]@{
        SnapshotSetId = $setId; Shadows = @($shadows); MetadataPath = $metadataPath; Metadata = $metadata
        Unsupported = @($unsupported)
    }
}
finally {
    Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction SilentlyContinue
}
