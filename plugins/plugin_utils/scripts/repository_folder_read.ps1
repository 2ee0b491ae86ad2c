# Read of backup.hyperv.repository_folder: the folder, its owner and DACL, and the principals' SIDs.
# Returns @{ path; drive_exists; exists; container; sddl; domain_sid; principals = @(@{ name; sid }); unmapped }:
#   sddl        owner and DACL in SDDL ("Security Descriptor String Format",
#               https://learn.microsoft.com/windows/win32/secauthz/security-descriptor-string-format), $null when absent
#   domain_sid  the SID of the domain this machine is a member of, which SDDL's domain aliases (DA, DU, ...) are
#               relative to: the SID behind the alias DU (ConvertStringSidToSid takes "SID string constants",
#               https://learn.microsoft.com/windows/win32/api/sddl/nf-sddl-convertstringsidtosidw); $null off a domain
#   principals  each name of -Principals NTAccount.Translate maps to a SID; unmapped: those it cannot map
# Nothing is changed.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$Path,
    [string[]]$Principals = @()
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include values_common.ps1

function Get-DomainSid {
    try { return ([System.Security.Principal.SecurityIdentifier]::new('DU')).AccountDomainSid.Value }
    catch { return $null }
}

function Get-Sddl {
    # Owner and Access only: the group and the SACL are not ours to compare (reading the SACL needs a privilege).
    param([System.IO.FileSystemInfo]$Item)
    $sections = [System.Security.AccessControl.AccessControlSections]'Owner, Access'
    return $Item.GetAccessControl($sections).GetSecurityDescriptorSddlForm($sections)
}

$mapped = New-List
$unmapped = New-List
foreach ($name in $Principals) {
    try {
        $sid = [System.Security.Principal.NTAccount]::new($name).Translate([System.Security.Principal.SecurityIdentifier])
        $mapped.Add([ordered]@{ name = $name; sid = $sid.Value })
    }
    catch [System.Security.Principal.IdentityNotMappedException] { $unmapped.Add($name) }
}

$item = $null
if (Test-Path -LiteralPath $Path) { $item = Get-Item -LiteralPath $Path -Force }
return [ordered]@{
    path         = $Path
    drive_exists = Test-Path -LiteralPath ([System.IO.Path]::GetPathRoot($Path))
    exists       = $null -ne $item
    container    = $null -ne $item -and $item.PSIsContainer
    sddl         = if ($null -ne $item) { Get-Sddl $item } else { $null }
    domain_sid   = Get-DomainSid
    principals   = $mapped.ToArray()
    unmapped     = $unmapped.ToArray()
}
