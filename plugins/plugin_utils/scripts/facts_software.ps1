# Sections of the hyperv_offhost facts about software beside Windows: vss_providers and components.
# Included by host_facts.ps1 (#include facts_software.ps1), the driver: it says what the collectors may use,
# and includes records_common.ps1 ($ComponentRecordRoot) for the components section.

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

function Get-ComponentRecords {
    # The records proxy_components wrote (records_common.ps1): one per installed component, with its Role and,
    # when it runs as a service, the Service's name. A component run per job (the data mover) has no service,
    # so the record is how the facts know it is installed.
    if (-not (Test-Path -LiteralPath $ComponentRecordRoot)) { return , (New-List) }
    $records = New-List
    foreach ($key in Get-ChildItem -LiteralPath $ComponentRecordRoot) {
        $role = Get-Text $key.GetValue('Role', $null)
        if (-not $role) { continue }  # a record written before records named their role
        $records.Add([ordered]@{
                Name    = $key.PSChildName
                Role    = $role
                Version = Get-Text $key.GetValue('Version', $null)
                Service = Get-Text $key.GetValue('Service', $null)
            })
    }
    return , $records
}

function New-ComponentEntry {
    # Version: the file version of the service's executable; for a component without a service, the record's.
    param([string]$Role, [string]$Name, $Service, $RecordedVersion)
    $version = $RecordedVersion
    if ($Service) { $version = Get-FileVersion (Get-ServiceExecutable $Service.PathName) }
    return [ordered]@{
        role         = $Role
        name         = Get-Text $Name
        service_name = if ($Service) { "$($Service.Name)" } else { $null }
        display_name = if ($Service) { Get-Text $Service.DisplayName } else { $null }
        version      = $version
        state        = if ($Service) { Get-Text $Service.State } else { $null }
        start_mode   = if ($Service) { Get-Text $Service.StartMode } else { $null }
    }
}

function Get-ComponentsSection {
    # Installed components: each service -Components names (with the record that names it, if any), then each
    # record not listed yet, such as the data mover's, which no service runs.
    $installed = @{}
    foreach ($service in Get-Cim 'Win32_Service') { $installed["$($service.Name)".ToLowerInvariant()] = $service }
    $records = Get-ComponentRecords
    $recordOf = @{}
    foreach ($record in $records) {
        if ($record.Service) { $recordOf[$record.Service.ToLowerInvariant()] = $record }
    }
    $found = New-List
    $listed = @{}
    foreach ($component in $Components) {
        $key = "$($component.Service)".ToLowerInvariant()
        $service = $installed[$key]
        if (-not $service) { continue }
        $record = $recordOf[$key]
        $name = $null
        if ($record) { $name = $record.Name; $listed[$record.Name] = $true }
        $found.Add((New-ComponentEntry -Role "$($component.Role)" -Name $name -Service $service))
    }
    foreach ($record in $records) {
        if ($listed.ContainsKey($record.Name)) { continue }
        $service = $null
        if ($record.Service) { $service = $installed[$record.Service.ToLowerInvariant()] }
        $found.Add((New-ComponentEntry -Role $record.Role -Name $record.Name -Service $service -RecordedVersion $record.Version))
    }
    return , $found
}
