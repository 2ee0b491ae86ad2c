# Sections of the hyperv_offhost facts about software beside Windows: vss_providers and components.
# Included by host_facts.ps1 (#include facts_software.ps1), the driver: it says what the collectors may use.

function Get-VssProvidersSection {
    $types = @{ 0 = 'unknown'; 1 = 'system'; 2 = 'software'; 3 = 'hardware' }
    $providers = New-List
    foreach ($provider in Get-Cim 'Win32_ShadowProvider') {
        $type = if ($types.ContainsKey([int]$provider.Type)) { $types[[int]$provider.Type] } else { 'unknown' }
        # Windows exposes no flag for transportable support; the provider's vendor documents it.
        $providers.Add([ordered]@{
                id            = "$($provider.ID)"
                name          = "$($provider.Name)"
                type          = $type
                version       = Get-Text $provider.Version
                transportable = $null
            })
    }
    return , $providers
}

function Get-ServiceExecutable {
    # Win32_Service.PathName is a command line: a quoted path, or an unquoted one followed by arguments.
    param([string]$PathName)
    if (-not $PathName) { return $null }
    if ($PathName -match '^\s*"([^"]+)"') { return [Environment]::ExpandEnvironmentVariables($Matches[1]) }
    if ($PathName -match '^\s*(.+?\.exe)\b') { return [Environment]::ExpandEnvironmentVariables($Matches[1]) }
    return [Environment]::ExpandEnvironmentVariables($PathName.Trim())
}

function Get-ComponentsSection {
    $installed = @{}
    foreach ($service in Get-Cim 'Win32_Service') { $installed["$($service.Name)".ToLowerInvariant()] = $service }
    $found = New-List
    foreach ($component in $Components) {
        $service = $installed["$($component.Service)".ToLowerInvariant()]
        if (-not $service) { continue }
        $found.Add([ordered]@{
                role         = "$($component.Role)"
                service_name = "$($service.Name)"
                display_name = Get-Text $service.DisplayName
                version      = Get-FileVersion (Get-ServiceExecutable $service.PathName)
                state        = Get-Text $service.State
                start_mode   = Get-Text $service.StartMode
            })
    }
    return , $found
}
