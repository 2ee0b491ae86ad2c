# Read of backup.hyperv.proxy_components: for each component of the manifest, what is on the host.
# -Components: @{ Name; Source; Destination; Files (paths relative to both folders); Service (or $null: the
#                 component runs per job); Parameters (value names under the service's Parameters key);
#                 FirewallRule (or $null) }
# Returns @{ components = @( per component, keeping the Windows property names:
#   Name, Version (marker HKLM:\SOFTWARE\backup.hyperv\Components\<Name>, or $null),
#   Record: every value of that key by name (Version, Role, Destination, Service, Runtime, Engine), or $null,
#   Files / SourceFiles: @{ Path; Exists; Sha256; FileVersion } for Destination / Source,
#   Service: Win32_Service (Name, DisplayName, Description, PathName, StartMode, DelayedAutoStart,
#            StartName, State, ProcessId) + DependOnService + Parameters + Recovery (@{ reset_period; actions = @( @{ type; delay_ms } ) }
#            from the FailureActions registry value), or $null,
#   FormerService: the same for the service the record names when the manifest declares none or another
#            (an earlier manifest's service, which the plan removes), or $null,
#   FirewallRule: Get-NetFirewallRule + Get-NetFirewallPortFilter (Name, DisplayName, Enabled,
#            Direction, Action, Profile, Protocol, LocalPort), or $null,
#   Programs: @{ Id; Path } of the running processes started from a file under Destination, but the declared and
#            the former service's own (Win32_Process.ExecutablePath; Win32_Service.ProcessId) ) }
# Nothing is changed. Lists are List[object] so Windows PowerShell 5.1 serialises them as arrays.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][object[]]$Components,
    [int]$ProbeTimeout = 60
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include records_common.ps1
#include values_common.ps1

function Get-FileState {
    param([string]$Folder, [string]$RelativePath)
    $path = Join-HostPath -Folder $Folder -RelativePath $RelativePath
    if (-not (Test-Path -LiteralPath $path -PathType Leaf)) {
        return [ordered]@{ Path = $RelativePath; Exists = $false; Sha256 = $null; FileVersion = $null }
    }
    $info = (Get-Item -LiteralPath $path).VersionInfo
    $version = $null
    if ($info.FileVersion) {
        $version = '{0}.{1}.{2}.{3}' -f $info.FileMajorPart, $info.FileMinorPart, $info.FileBuildPart, $info.FilePrivatePart
    }
    return [ordered]@{
        Path        = $RelativePath
        Exists      = $true
        Sha256      = (Get-FileHash -LiteralPath $path -Algorithm SHA256).Hash
        FileVersion = $version
    }
}

function Get-FileStates {
    param([string]$Folder, [object[]]$Files)
    $states = New-List
    foreach ($file in $Files) { $states.Add((Get-FileState -Folder $Folder -RelativePath $file)) }
    return , $states
}

function Get-RegistryValue {
    param([string]$Path, [string]$Name)
    if (-not (Test-Path -LiteralPath $Path)) { return $null }
    $key = Get-Item -LiteralPath $Path
    return $key.GetValue($Name, $null)
}

function ConvertFrom-RegistryDword {
    # RegistryKey.GetValue returns a REG_DWORD as an Int32, so 4294967295 reads back as -1 and would never match the
    # manifest's value (0 to 4294967295): the same 32 bits as a UInt32. Other kinds pass through.
    # https://learn.microsoft.com/dotnet/api/microsoft.win32.registryvaluekind
    param($Value)
    if ($Value -is [int]) { return [BitConverter]::ToUInt32([BitConverter]::GetBytes([int]$Value), 0) }
    return $Value
}

function Get-RegistryValues {
    # Every value of a key by name (RegistryKey.GetValueNames), or $null when there is no such key.
    param([string]$Path)
    if (-not (Test-Path -LiteralPath $Path)) { return $null }
    $key = Get-Item -LiteralPath $Path
    $values = [ordered]@{}
    foreach ($name in $key.GetValueNames()) { $values[$name] = $key.GetValue($name, $null) }
    return $values
}

function Get-RecoveryActions {
    # The service's recovery actions from its FailureActions registry value, which holds a SERVICE_FAILURE_ACTIONS
    # with 32-bit pointer fields: dwResetPeriod at 0, cActions at 12, then cActions SC_ACTION { Type; Delay } from
    # 20 ("SERVICE_FAILURE_ACTIONSW structure", learn.microsoft.com/windows/win32/api/winsvc/
    # ns-winsvc-service_failure_actionsw; "SC_ACTION structure", .../ns-winsvc-sc_action). Numbers, not the words
    # `sc.exe qfailure` prints, which are translated on a localised Windows. SC_ACTION_NONE entries are left out;
    # a service without the value has no recovery actions (reset period 0, as QueryServiceConfig2 reports it).
    # non_crash_failures: the FailureActionsOnNonCrashFailures value (sc.exe failureflag): whether the actions also
    # run when the service stops with a non-zero exit code (SERVICE_FAILURE_ACTIONS_FLAG).
    param([string]$Key)
    $actions = New-List
    $flag = (Get-RegistryValue -Path $Key -Name 'FailureActionsOnNonCrashFailures') -eq 1
    $bytes = Get-RegistryValue -Path $Key -Name 'FailureActions'
    if ($bytes -isnot [byte[]] -or $bytes.Length -lt 20) {
        return [ordered]@{ reset_period = 0; actions = $actions; non_crash_failures = $flag }
    }
    $types = @{ 1 = 'restart'; 2 = 'reboot'; 3 = 'run' }
    $count = [BitConverter]::ToUInt32($bytes, 12)
    for ($index = 0; $index -lt $count -and 28 + 8 * $index -le $bytes.Length; $index++) {
        $type = [int][BitConverter]::ToUInt32($bytes, 20 + 8 * $index)
        if ($type -eq 0) { continue }
        $word = if ($types.ContainsKey($type)) { $types[$type] } else { 'unknown' }
        $actions.Add([ordered]@{ type = $word; delay_ms = [int64][BitConverter]::ToUInt32($bytes, 24 + 8 * $index) })
    }
    return [ordered]@{ reset_period = [int64][BitConverter]::ToUInt32($bytes, 0); actions = $actions; non_crash_failures = $flag }
}

function Get-ServiceState {
    param([string]$ServiceName, [object[]]$ParameterNames)
    if (-not $ServiceName) { return $null }
    # Service names are checked on the controller ([A-Za-z0-9_.-]), so the WQL filter needs no escaping.
    $service = Get-CimInstance -ClassName 'Win32_Service' -Filter "Name='$ServiceName'" -OperationTimeoutSec $ProbeTimeout
    if ($null -eq $service) { return $null }
    $key = "HKLM:\SYSTEM\CurrentControlSet\Services\$ServiceName"
    $dependencies = New-List
    foreach ($name in @(Get-RegistryValue -Path $key -Name 'DependOnService')) {
        if ($name) { $dependencies.Add("$name") }
    }
    $parameters = [ordered]@{}
    foreach ($name in $ParameterNames) {
        $value = ConvertFrom-RegistryDword (Get-RegistryValue -Path "$key\Parameters" -Name $name)
        if ($null -ne $value) { $parameters[$name] = $value }
    }
    $delayed = $service.DelayedAutoStart
    if ($null -eq $delayed) { $delayed = (Get-RegistryValue -Path $key -Name 'DelayedAutostart') -eq 1 }
    return [ordered]@{
        Name             = "$($service.Name)"
        DisplayName      = "$($service.DisplayName)"
        Description      = $service.Description
        PathName         = "$($service.PathName)"
        StartMode        = "$($service.StartMode)"
        DelayedAutoStart = [bool]$delayed
        StartName        = "$($service.StartName)"
        State            = "$($service.State)"
        ProcessId        = [int]$service.ProcessId  # 0 unless it runs; Get-ProgramUnder leaves its process out
        DependOnService  = $dependencies
        Parameters       = $parameters
        Recovery         = Get-RecoveryActions $key
    }
}

function Get-FormerServiceName {
    # The service the record names, unless it is the declared one (service names are case-blind). The record is
    # this collection's, but the name goes into a WQL filter, so it must be a name the manifest could declare.
    param($Record, [string]$Declared)
    if ($null -eq $Record -or -not $Record.Contains('Service')) { return $null }
    $recorded = "$($Record['Service'])"
    if ($recorded -notmatch '^[A-Za-z0-9][A-Za-z0-9_.-]*$' -or $recorded -ieq $Declared) { return $null }
    return $recorded
}

function Get-FirewallState {
    param([string]$RuleName)
    if (-not $RuleName) { return $null }
    $rule = Get-NetFirewallRule -Name $RuleName -ErrorAction SilentlyContinue
    if ($null -eq $rule) { return $null }
    $filter = $rule | Get-NetFirewallPortFilter
    $ports = New-List
    foreach ($port in @($filter.LocalPort)) { $ports.Add("$port") }
    # Enumerations as their names: Enabled True/False, Direction Inbound, Action Allow, Profile "Domain, Private".
    return [ordered]@{
        Name        = "$($rule.Name)"
        DisplayName = "$($rule.DisplayName)"
        Enabled     = "$($rule.Enabled)"
        Direction   = "$($rule.Direction)"
        Action      = "$($rule.Action)"
        Profile     = "$($rule.Profile)"
        Protocol    = "$($filter.Protocol)"
        LocalPort   = $ports
    }
}

function Get-ProgramUnder {
    # The running programs started from a file under -Folder (Win32_Process.ExecutablePath), but the component's own
    # services (their ProcessId), which the plan stops before it changes files: e.g. a data mover job's python.exe,
    # which holds the runtime, its DLLs and the engine open while it runs
    # (https://learn.microsoft.com/windows/win32/cimwin32prov/win32-process).
    param([object[]]$Processes, [string]$Folder, [object[]]$Services)
    $own = @(foreach ($service in $Services) { if ($service) { [int]$service.ProcessId } })
    $prefix = "$($Folder.TrimEnd('\'))\"
    $list = New-List
    foreach ($process in $Processes) {
        $path = "$($process.ExecutablePath)"
        if ($path -and $path.StartsWith($prefix, [StringComparison]::OrdinalIgnoreCase) -and $own -notcontains [int]$process.ProcessId) {
            $list.Add([ordered]@{ Id = [int]$process.ProcessId; Path = $path })
        }
    }
    return , $list
}

$processes = @(Get-CimInstance -ClassName 'Win32_Process' -OperationTimeoutSec $ProbeTimeout)
$result = New-List
foreach ($component in $Components) {
    $key = Join-Path -Path $ComponentRecordRoot -ChildPath $component.Name
    $record = Get-RegistryValues -Path $key
    $former = Get-FormerServiceName -Record $record -Declared $component.Service
    $service = Get-ServiceState -ServiceName $component.Service -ParameterNames $component.Parameters
    $formerService = Get-ServiceState -ServiceName $former -ParameterNames @()
    $result.Add([ordered]@{
            Name          = $component.Name
            Version       = Get-RegistryValue -Path $key -Name 'Version'
            Record        = $record
            Files         = Get-FileStates -Folder $component.Destination -Files $component.Files
            SourceFiles   = Get-FileStates -Folder $component.Source -Files $component.Files
            Service       = $service
            FormerService = $formerService
            FirewallRule  = Get-FirewallState -RuleName $component.FirewallRule
            Programs      = Get-ProgramUnder -Processes $processes -Folder $component.Destination -Services @($service, $formerService)
        })
}
return [ordered]@{ components = $result }
