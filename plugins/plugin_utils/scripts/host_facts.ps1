# Probe of backup.hyperv.host_facts: collects every section of the hyperv_offhost facts document
# (plugins/plugin_utils/facts/hyperv_offhost.schema.json) in one run and returns it as one object.
# Each section is collected in its own try/catch: a failing section becomes
# @{ error = @{ message; category; exception } } and the others are still reported.
# Lists are built as List[object], never arrays: Windows PowerShell 5.1 can serialise a wrapped
# array as {"value": [...], "Count": n}. Enumerations are written as their names, not numbers.
# The sections are collected by the facts_*.ps1 includes, one per subject; this file is the driver.
[CmdletBinding()]
param(
    [int]$ProbeTimeout = 60,
    [object[]]$Components = @()
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$SchemaVersion = '1.0'

#include process_common.ps1
#include records_common.ps1
#include values_common.ps1

function Get-FileVersion {
    param([string]$Path)
    if (-not $Path -or -not (Test-Path -LiteralPath $Path -PathType Leaf)) { return $null }
    $info = (Get-Item -LiteralPath $Path).VersionInfo
    return '{0}.{1}.{2}.{3}' -f $info.FileMajorPart, $info.FileMinorPart, $info.FileBuildPart, $info.FilePrivatePart
}

function Get-Cim {
    param([string]$ClassName, [string]$Namespace = 'root/cimv2')
    return Get-CimInstance -ClassName $ClassName -Namespace $Namespace -OperationTimeoutSec $ProbeTimeout
}

function Assert-Module {
    # A section whose role is installed but whose PowerShell module is not (a server installed without
    # -IncludeManagementTools) fails naming what to repair, never as "The term 'Get-X' is not recognized".
    # $Feature is the Get-WindowsFeature name of the module, see "Install or uninstall roles, role services,
    # or features": learn.microsoft.com/windows-server/administration/server-manager/
    # install-or-uninstall-roles-role-services-or-features
    param([string]$Name, [string]$Feature)
    if (Get-Module -ListAvailable -Name $Name) { return }
    $message = "PowerShell module $Name is not installed; install it with Install-WindowsFeature -Name $Feature"
    Write-Error -Message $message -Category NotInstalled -ErrorAction Stop
}

function Invoke-Section {
    # Runs one collector; its failure becomes the section's error object.
    param([scriptblock]$Collector)
    try {
        return , (& $Collector)
    }
    catch {
        $record = $_
        $failure = [ordered]@{
            message   = "$($record.Exception.Message)"
            category  = "$($record.CategoryInfo.Category)"
            exception = $record.Exception.GetType().FullName
        }
        return @{ error = $failure }
    }
}

# The collectors, one include per subject. Each Get-*Section returns its section of the document and may
# use $ProbeTimeout, $Components and the helpers above (Get-Cim, Get-FileVersion, Assert-Module, New-List,
# Get-Text);
# Invoke-Section turns its failure into the section's error object.
#include facts_platform.ps1
#include facts_identity.ps1
#include facts_storage.ps1
#include facts_smb.ps1
#include facts_vms.ps1
#include facts_software.ps1

$clock = [System.Diagnostics.Stopwatch]::StartNew()
$facts = [ordered]@{
    schema_version = $SchemaVersion
    collected_at   = [DateTime]::UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [CultureInfo]::InvariantCulture)
}
$facts.os = Invoke-Section { Get-OsSection }
$facts.hyperv = Invoke-Section { Get-HyperVSection }
$facts.identity = Invoke-Section { Get-IdentitySection }
$facts.cluster = Invoke-Section { Get-ClusterSection }
$facts.disks = Invoke-Section { Get-DisksSection }
$facts.vss_providers = Invoke-Section { Get-VssProvidersSection }
$facts.features = Invoke-Section { Get-FeaturesSection }
$facts.dedup_volumes = Invoke-Section { Get-DedupVolumesSection }
$facts.smb = Invoke-Section { Get-SmbSection }
$facts.trusts = Invoke-Section { Get-TrustsSection }
$facts.vms = Invoke-Section { Get-VmsSection }
$facts.components = Invoke-Section { Get-ComponentsSection }
$facts.probe_duration_ms = [int64]$clock.ElapsedMilliseconds
$facts
