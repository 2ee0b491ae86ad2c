# Apply of backup.hyperv.proxy_components: runs the plan's steps in order, stops at the first failure.
# Steps (made by plugins/plugin_utils/desired_state/components.py):
#   stop_service / start_service      Stop-Service -Force / Start-Service
#   copy_files                        Copy-Item each file from source to destination (folders created)
#   set_component_version             record HKLM:\SOFTWARE\backup.hyperv\Components\<component>: Version,
#                                     then each value of record (Role, Destination, Runtime, Engine; null: removed)
#   create_service / set_service      New-Service, then Win32_Service.Change (binary path, account)
#                                     and sc.exe config (start=, depend=); Set-Service (display name, description)
#   set_recovery                      sc.exe failure <name> reset= <s> actions= <type>/<ms>/...
#   set_service_parameters            values under HKLM:\SYSTEM\CurrentControlSet\Services\<name>\Parameters
#   set_firewall_rule                 the rule is replaced: Remove-NetFirewallRule + New-NetFirewallRule
#   remove_service                    sc.exe delete (Remove-Service needs PowerShell 6)
#   remove_firewall_rule / remove_files / remove_component_version
# Services that Stop-Service -Force stopped because they depend on a stopped one are started again
# at the end. Returns @{ applied = <steps run>; reboot_required = $false }.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][object[]]$Steps
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$ScStartModes = @{ auto = 'auto'; delayed_auto = 'delayed-auto'; manual = 'demand'; disabled = 'disabled' }
$script:Collateral = [System.Collections.Generic.List[string]]::new()
$script:Removed = [System.Collections.Generic.List[string]]::new()

#include process_common.ps1
#include records_common.ps1
#include steps_common.ps1

function Invoke-Sc {
    # sc.exe with an argument string whose tokens the controller checked (names, numbers, keywords).
    param([string]$Arguments, [int[]]$Accept = @(0))
    $run = Invoke-Program -FilePath 'sc.exe' -Arguments $Arguments
    if ($Accept -notcontains $run.ExitCode) {
        throw "sc.exe $Arguments exited with code $($run.ExitCode): $($run.StdOut.Trim())"
    }
}

function Stop-ComponentService {
    param($Step)
    $service = Get-Service -Name $Step.name
    foreach ($dependent in $service.DependentServices) {
        if ($dependent.Status -eq 'Running') { $script:Collateral.Add($dependent.Name) }
    }
    Stop-Service -Name $Step.name -Force
}

function Copy-ComponentFiles {
    param($Step)
    foreach ($file in $Step.files) {
        $source = Join-HostPath -Folder $Step.source -RelativePath $file
        $target = Join-HostPath -Folder $Step.destination -RelativePath $file
        $folder = Split-Path -Path $target -Parent
        if (-not (Test-Path -LiteralPath $folder)) { $null = New-Item -ItemType Directory -Path $folder -Force }
        Copy-Item -LiteralPath $source -Destination $target -Force
    }
}

function Set-ComponentVersion {
    param($Step)
    $path = Join-Path -Path $ComponentRecordRoot -ChildPath $Step.component
    if (-not (Test-Path -LiteralPath $path)) { $null = New-Item -Path $path -Force }
    Set-ItemProperty -LiteralPath $path -Name 'Version' -Value "$($Step.version)"
    foreach ($value in $Step.record.PSObject.Properties) {
        if ($value.Value -is [array]) {  # Files: one string per file
            $null = New-ItemProperty -LiteralPath $path -Name $value.Name -Value ([string[]]$value.Value) -PropertyType MultiString -Force
        }
        elseif ($null -ne $value.Value) {
            Set-ItemProperty -LiteralPath $path -Name $value.Name -Value "$($value.Value)"
        }
        elseif ($null -ne (Get-Item -LiteralPath $path).GetValue($value.Name, $null)) {
            Remove-ItemProperty -LiteralPath $path -Name $value.Name
        }
    }
}

function Set-ComponentService {
    # Applies the given fields of a service's configuration; absent fields stay as they are.
    param([string]$Name, $Changes)
    $fields = @($Changes.PSObject.Properties.Name)
    $cim = @{}
    if ($fields -contains 'binary_path') { $cim.PathName = "$($Changes.binary_path)" }
    if ($fields -contains 'account') {
        $cim.StartName = "$($Changes.account)"
        $cim.StartPassword = ''  # built-in accounts have none
    }
    if ($cim.Count -gt 0) {
        $service = Get-CimInstance -ClassName 'Win32_Service' -Filter "Name='$Name'"
        $outcome = Invoke-CimMethod -InputObject $service -MethodName 'Change' -Arguments $cim
        if ($outcome.ReturnValue -ne 0) { throw "Win32_Service.Change on $Name returned $($outcome.ReturnValue)" }
    }
    if ($fields -contains 'start_mode') { Invoke-Sc "config $Name start= $($ScStartModes[$Changes.start_mode])" }
    if ($fields -contains 'dependencies') {
        $depend = @($Changes.dependencies) -join '/'
        if (-not $depend) { $depend = '/' }  # sc.exe: depend= / removes every dependency
        Invoke-Sc "config $Name depend= $depend"
    }
    if ($fields -contains 'display_name') { Set-Service -Name $Name -DisplayName "$($Changes.display_name)" }
    if ($fields -contains 'description' -and $null -ne $Changes.description) {
        Set-Service -Name $Name -Description "$($Changes.description)"
    }
}

function New-ComponentService {
    param($Step)
    $null = New-Service -Name $Step.name -BinaryPathName $Step.binary_path -DisplayName $Step.display_name -StartupType Manual
    Set-ComponentService -Name $Step.name -Changes $Step
}

function Set-ComponentRecovery {
    param($Step)
    $actions = @(foreach ($action in $Step.actions) { '{0}/{1}' -f $action.type, $action.delay_ms }) -join '/'
    if (-not $actions) { $actions = '""' }
    Invoke-Sc "failure $($Step.name) reset= $($Step.reset_period) actions= $actions"
    # The actions also run when the service stops reporting a failure (a non-zero exit code), not only when its
    # process dies: SERVICE_FAILURE_ACTIONS_FLAG.
    $flag = if ($actions -eq '""') { 0 } else { 1 }
    Invoke-Sc "failureflag $($Step.name) $flag"
}

function Set-ComponentParameters {
    param($Step)
    $path = "HKLM:\SYSTEM\CurrentControlSet\Services\$($Step.name)\Parameters"
    if (-not (Test-Path -LiteralPath $path)) { $null = New-Item -Path $path -Force }
    foreach ($value in $Step.values.PSObject.Properties) {
        if ($value.Value -is [string]) { $type = 'String'; $data = $value.Value }
        else {
            # A REG_DWORD takes an Int32: 2147483648 to 4294967295 go in as the same 32 bits, negative.
            $type = 'DWord'
            $data = [BitConverter]::ToInt32([BitConverter]::GetBytes([uint32]$value.Value), 0)
        }
        $null = New-ItemProperty -LiteralPath $path -Name $value.Name -Value $data -PropertyType $type -Force
    }
}

function Set-ComponentFirewallRule {
    param($Step)
    $existing = Get-NetFirewallRule -Name $Step.name -ErrorAction SilentlyContinue
    if ($existing) { $existing | Remove-NetFirewallRule }
    $profiles = (@($Step.profiles) | ForEach-Object { (Get-Culture).TextInfo.ToTitleCase($_) }) -join ','
    $rule = @{
        Name        = $Step.name
        DisplayName = $Step.display_name
        Direction   = 'Inbound'
        Action      = 'Allow'
        Protocol    = $Step.protocol
        LocalPort   = "$($Step.local_port)"
        Profile     = $profiles
        Enabled     = 'True'
    }
    $null = New-NetFirewallRule @rule
}

function Remove-ComponentService {
    param($Step)
    Invoke-Sc "delete $($Step.name)" -Accept 0, 1072  # 1072: already marked for deletion
    $script:Removed.Add($Step.name)
}

function Remove-ComponentFiles {
    param($Step)
    foreach ($file in $Step.files) {
        $target = Join-HostPath -Folder $Step.destination -RelativePath $file
        if (Test-Path -LiteralPath $target) { Remove-Item -LiteralPath $target -Force }
    }
    # Leave the destination folder only when something else still lives in it.
    if ((Test-Path -LiteralPath $Step.destination) -and -not (Get-ChildItem -LiteralPath $Step.destination -Recurse -File)) {
        Remove-Item -LiteralPath $Step.destination -Recurse -Force
    }
}

function Remove-ComponentVersion {
    param($Step)
    $path = Join-Path -Path $ComponentRecordRoot -ChildPath $Step.component
    if (Test-Path -LiteralPath $path) { Remove-Item -LiteralPath $path -Recurse -Force }
}

$actions = @{
    stop_service             = { param($Step) Stop-ComponentService $Step }
    copy_files               = { param($Step) Copy-ComponentFiles $Step }
    set_component_version    = { param($Step) Set-ComponentVersion $Step }
    create_service           = { param($Step) New-ComponentService $Step }
    set_service              = { param($Step) Set-ComponentService -Name $Step.name -Changes $Step.changes }
    set_recovery             = { param($Step) Set-ComponentRecovery $Step }
    set_service_parameters   = { param($Step) Set-ComponentParameters $Step }
    set_firewall_rule        = { param($Step) Set-ComponentFirewallRule $Step }
    start_service            = { param($Step) Start-Service -Name $Step.name }
    remove_service           = { param($Step) Remove-ComponentService $Step }
    remove_firewall_rule     = { param($Step) Remove-NetFirewallRule -Name $Step.name }
    remove_files             = { param($Step) Remove-ComponentFiles $Step }
    remove_component_version = { param($Step) Remove-ComponentVersion $Step }
}
$describe = { param($Step) "$($Step.action) $($Step.name)$($Step.component)" }
$done = Invoke-PlanSteps -Steps $Steps -Actions $actions -Describe $describe
foreach ($name in $script:Collateral) {
    if ($script:Removed -notcontains $name -and (Get-Service -Name $name -ErrorAction SilentlyContinue).Status -eq 'Stopped') {
        Start-Service -Name $name
    }
}
return [ordered]@{ applied = $done.Count; reboot_required = $false }
