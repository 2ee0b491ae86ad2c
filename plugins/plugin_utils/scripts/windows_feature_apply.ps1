# Apply of backup.hyperv.windows_feature: runs the plan's steps in order, stops at the first failure.
# Steps (made by plugins/plugin_utils/desired_state/features.py):
#   install_features    Install-WindowsFeature -Name <names> [-IncludeAllSubFeature] [-IncludeManagementTools] [-Source]
#   uninstall_features  Uninstall-WindowsFeature -Name <names> [-IncludeManagementTools]
# Neither cmdlet restarts the host here (no -Restart); RestartNeeded of the result is reported instead.
# (https://learn.microsoft.com/powershell/module/servermanager/install-windowsfeature)
# Returns @{ applied; reboot_required; results = @( @{ action; success; exit_code; restart_needed; features } ) }.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][object[]]$Steps
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Import-Module -Name 'ServerManager'

function Invoke-FeatureStep {
    param([object]$Step)
    $arguments = @{ Name = [string[]]@($Step.names) }
    if ($Step.include_management_tools) { $arguments['IncludeManagementTools'] = $true }
    if ($Step.action -eq 'install_features') {
        if ($Step.include_sub_features) { $arguments['IncludeAllSubFeature'] = $true }
        if ($Step.source) { $arguments['Source'] = [string]$Step.source }
        return Install-WindowsFeature @arguments
    }
    if ($Step.action -eq 'uninstall_features') {
        return Uninstall-WindowsFeature @arguments
    }
    throw "unknown step action '$($Step.action)'"
}

function ConvertTo-StepResult {
    # FeatureOperationResult: Success, ExitCode, RestartNeeded (No, Yes, Maybe), FeatureResult[].
    param([string]$Action, [object]$Outcome)
    $features = foreach ($item in @($Outcome.FeatureResult)) {
        if ($null -eq $item) { continue }
        [ordered]@{ name = "$($item.Name)"; success = [bool]$item.Success; restart_needed = [bool]$item.RestartNeeded; message = "$($item.Message)" }
    }
    return [ordered]@{
        action         = $Action
        success        = [bool]$Outcome.Success
        exit_code      = "$($Outcome.ExitCode)"
        restart_needed = "$($Outcome.RestartNeeded)"
        features       = @($features)
    }
}

$results = [System.Collections.Generic.List[object]]::new()
$rebootRequired = $false
$index = 0
foreach ($step in $Steps) {
    $index++
    try {
        $outcome = Invoke-FeatureStep -Step $step
    }
    catch {
        throw "step $index ($($step.action) $(@($step.names) -join ', ')): $($_.Exception.Message)"
    }
    $result = ConvertTo-StepResult -Action $step.action -Outcome $outcome
    $results.Add($result)
    if ($result.restart_needed -eq 'Yes') { $rebootRequired = $true }
    if (-not $result.success) {
        throw "step $index ($($step.action) $(@($step.names) -join ', ')): the cmdlet reported exit code $($result.exit_code)"
    }
}
return @{ applied = $index; reboot_required = $rebootRequired; results = $results.ToArray() }
