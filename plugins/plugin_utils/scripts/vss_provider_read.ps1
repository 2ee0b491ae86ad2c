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

function Get-Provider {
    # Win32_ShadowProvider lists what `vssadmin list providers` lists, with Type as a number and in no display
    # language ("Win32_ShadowProvider class", learn.microsoft.com/previous-versions/windows/desktop/vsswmi/
    # win32-shadowprovider). vssadmin's text is translated on a localised Windows, so it is no fallback: when the
    # class cannot be read the read fails, rather than reporting an installed provider as absent.
    try {
        $providers = Get-CimInstance -ClassName 'Win32_ShadowProvider' -OperationTimeoutSec $ProbeTimeout
    }
    catch [Microsoft.Management.Infrastructure.CimException] {
        throw "Win32_ShadowProvider cannot be read ($($_.Exception.Message)); repair WMI's VSS provider (check that winmgmt and VSS run) and retry"
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
