# Shared by the apply scripts, which include it (#include steps_common.ps1): proxy_components_apply,
# vss_provider_apply, windows_feature_apply and repository_folder_apply run the steps of a plan the controller
# made (plugins/plugin_utils/desired_state/). The collection's action plugins send each script with its
# includes expanded (plugin_utils/_pwsh.py).

function Invoke-PlanSteps {
    # Runs the steps in order. A step's action names its entry in -Actions, a scriptblock called with the
    # step whose output is the step's result. The first step that throws (or whose action is unknown) stops
    # the run with "step <n> (<-Describe of the step>): <message>", -Mask applied to the message (to hide a
    # secret); the steps after it do not run. Returns the results of the steps run, one entry per step
    # ($null for an action that returns nothing), so their count is the number of steps applied. -Until, when it
    # returns true after a step, stops the run there (an installer that started a restart of the host).
    param(
        [object[]]$Steps,
        [hashtable]$Actions,
        [scriptblock]$Describe,
        [scriptblock]$Mask = { param($Text) $Text },
        [scriptblock]$Until = { $false }
    )
    $results = [System.Collections.Generic.List[object]]::new()
    foreach ($step in $Steps) {
        # A hashtable literal's keys compare case-insensitively, as a switch statement does.
        $action = "$($step.action)"
        try {
            if (-not $Actions.ContainsKey($action)) { throw "unknown step action '$action'" }
            $run = $Actions[$action]
            $result = & $run $step
        }
        catch {
            throw "step $($results.Count + 1) ($(& $Describe $step)): $(& $Mask $_.Exception.Message)"
        }
        $results.Add($result)
        if (& $Until) { break }
    }
    return , $results
}
