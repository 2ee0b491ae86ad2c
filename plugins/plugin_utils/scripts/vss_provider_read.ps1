# Read of backup.hyperv.vss_provider: what Windows says about one vendor VSS provider.
# Returns one object with four parts, each $null when absent, keeping the Windows property names:
#   provider      Win32_ShadowProvider whose Name equals -Name (ID, Name, Type, Version); Type 3 = hardware
#   product       the Uninstall registry key named -ProductId (64-bit view, then WOW6432Node)
#   configuration the marker HKLM:\SOFTWARE\backup.hyperv\VssProviders\<Name> the apply script writes
#   package       whether the package file -Package exists on this host
# Nothing is changed. The password is never recorded, so it is never read.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$Name,
    [Parameter(Mandatory = $true)][string]$ProductId,
    [string]$Package,
    [int]$ProbeTimeout = 60
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include records_common.ps1
#include values_common.ps1

$VssadminTypes = @{ 'Unknown' = 0; 'System' = 1; 'Software' = 2; 'Hardware' = 3 }

function Get-VssadminProvider {
    # Fallback when the VSS WMI provider is missing: parse the English output of
    #   Provider name: 'X'  /  Provider type: Hardware  /  Provider Id: {guid}  /  Version: 1.0
    $text = (& vssadmin.exe list providers) -join "`n"
    $blocks = $text -split "Provider name: "
    foreach ($block in $blocks) {
        if ($block -notmatch "^'(?<name>[^']*)'") { continue }
        if ($Matches['name'] -ne $Name) { continue }
        $type = if ($block -match 'Provider type: (?<type>\w+)') { $VssadminTypes[$Matches['type']] } else { 0 }
        return [ordered]@{
            ID      = if ($block -match 'Provider Id: (?<id>\{[^}]+\})') { $Matches['id'] } else { '' }
            Name    = $Name
            Type    = if ($null -ne $type) { $type } else { 0 }
            Version = if ($block -match 'Version: (?<version>\S+)') { $Matches['version'] } else { $null }
        }
    }
    return $null
}

function Get-Provider {
    # Win32_ShadowProvider lists what `vssadmin list providers` lists, with Type as a number.
    try {
        $providers = Get-CimInstance -ClassName 'Win32_ShadowProvider' -OperationTimeoutSec $ProbeTimeout
    }
    catch [Microsoft.Management.Infrastructure.CimException] {
        return Get-VssadminProvider
    }
    foreach ($provider in $providers) {
        if ("$($provider.Name)" -eq $Name) {
            return [ordered]@{
                ID      = "$($provider.ID)"
                Name    = "$($provider.Name)"
                Type    = [int]$provider.Type
                Version = Get-Text $provider.Version
            }
        }
    }
    return $null
}

function Get-Product {
    foreach ($root in $UninstallRoots) {
        $path = Join-Path -Path $root -ChildPath $ProductId
        if (Test-Path -LiteralPath $path) {
            $key = Get-ItemProperty -LiteralPath $path
            return [ordered]@{
                ProductId            = $ProductId
                DisplayName          = Get-Text $key.DisplayName
                DisplayVersion       = Get-Text $key.DisplayVersion
                UninstallString      = Get-Text $key.UninstallString
                QuietUninstallString = Get-Text $key.QuietUninstallString
                WindowsInstaller     = if ($null -ne $key.WindowsInstaller) { [int]$key.WindowsInstaller } else { 0 }
            }
        }
    }
    return $null
}

function Get-Configuration {
    $path = Join-Path -Path $VssProviderRecordRoot -ChildPath $Name
    if (-not (Test-Path -LiteralPath $path)) { return $null }
    $key = Get-ItemProperty -LiteralPath $path
    return [ordered]@{
        ControllingServer = Get-Text $key.ControllingServer
        ArrayUser         = Get-Text $key.ArrayUser
        Command           = Get-Text $key.Command
        Arguments         = Get-Text $key.Arguments
    }
}

function Get-Package {
    if (-not $Package) { return $null }
    return [ordered]@{ Path = $Package; Exists = [bool](Test-Path -LiteralPath $Package -PathType Leaf) }
}

return [ordered]@{
    provider      = Get-Provider
    product       = Get-Product
    configuration = Get-Configuration
    package       = Get-Package
}
