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

#include steps_common.ps1

function Get-FeatureArguments {
    param([object]$Step)
    $arguments = @{ Name = [string[]]@($Step.names) }
    if ($Step.include_management_tools) { $arguments['IncludeManagementTools'] = $true }
    return $arguments
}

function Install-FeatureStep {
    param([object]$Step)
    $arguments = Get-FeatureArguments $Step
    if ($Step.include_sub_features) { $arguments['IncludeAllSubFeature'] = $true }
    if ($Step.source) { $arguments['Source'] = [string]$Step.source }
    return Complete-FeatureStep $Step (Install-WindowsFeature @arguments)
}

function Uninstall-FeatureStep {
    param([object]$Step)
    $arguments = Get-FeatureArguments $Step
    return Complete-FeatureStep $Step (Uninstall-WindowsFeature @arguments)
}

function Complete-FeatureStep {
    # The step's result; a cmdlet that reports no success fails the step.
    param([object]$Step, [object]$Outcome)
    $result = ConvertTo-StepResult -Action $Step.action -Outcome $Outcome
    if (-not $result.success) { throw "the cmdlet reported exit code $($result.exit_code)" }
    return $result
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

$actions = @{
    install_features   = { param($Step) Install-FeatureStep $Step }
    uninstall_features = { param($Step) Uninstall-FeatureStep $Step }
}
$describe = { param($Step) "$($Step.action) $(@($Step.names) -join ', ')" }
$results = Invoke-PlanSteps -Steps $Steps -Actions $actions -Describe $describe
$rebootRequired = $false
foreach ($result in $results) {
    if ($result.restart_needed -eq 'Yes') { $rebootRequired = $true }
}
return @{ applied = $results.Count; reboot_required = $rebootRequired; results = $results.ToArray() }
