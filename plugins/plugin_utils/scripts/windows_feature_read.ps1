# Read of backup.hyperv.windows_feature: the install state of each requested Windows feature.
# Get-WindowsFeature (ServerManager module, Windows Server 2012 and later) returns nothing for a name
# it does not know; the planner reports such names. With -IncludeSubFeatures, every sub-feature below
# a requested feature is listed too (flattened), so the planner can tell whether all are installed.
# Returns @{ features = @( @{ Name; DisplayName; InstallState; Installed; SubFeatures = @(@{ Name; InstallState }) } ) }.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string[]]$Name,
    [bool]$IncludeSubFeatures = $false
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Import-Module -Name 'ServerManager'

function Get-SubFeatureState {
    # Depth-first walk of SubFeatures (names only on the object), each feature listed once.
    param([string[]]$Names, [System.Collections.Generic.HashSet[string]]$Seen)
    $found = [System.Collections.Generic.List[object]]::new()
    foreach ($subName in $Names) {
        if (-not $Seen.Add($subName)) { continue }
        $sub = Get-WindowsFeature -Name $subName
        if ($null -eq $sub) { continue }
        $found.Add([ordered]@{ Name = "$($sub.Name)"; InstallState = "$($sub.InstallState)" })
        foreach ($deeper in Get-SubFeatureState -Names @($sub.SubFeatures) -Seen $Seen) { $found.Add($deeper) }
    }
    return , $found.ToArray()
}

$features = [System.Collections.Generic.List[object]]::new()
foreach ($featureName in $Name) {
    $feature = Get-WindowsFeature -Name $featureName
    if ($null -eq $feature) { continue }
    $subFeatures = @()
    if ($IncludeSubFeatures) {
        $seen = [System.Collections.Generic.HashSet[string]]::new([System.StringComparer]::OrdinalIgnoreCase)
        $subFeatures = Get-SubFeatureState -Names @($feature.SubFeatures) -Seen $seen
    }
    $features.Add([ordered]@{
            Name         = "$($feature.Name)"
            DisplayName  = "$($feature.DisplayName)"
            InstallState = "$($feature.InstallState)"
            Installed    = [bool]$feature.Installed
            SubFeatures  = $subFeatures
        })
}
return @{ features = $features.ToArray() }
