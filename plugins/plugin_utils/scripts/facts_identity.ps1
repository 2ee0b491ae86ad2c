# Sections of the hyperv_offhost facts about who the host is: identity and trusts.
# Included by host_facts.ps1 (#include facts_identity.ps1), the driver: it says what the collectors may use.

function Get-ComputerAccountSid {
    param([string]$Account)
    $name = [System.Security.Principal.NTAccount]::new($Account)
    return $name.Translate([System.Security.Principal.SecurityIdentifier])
}

function Get-TokenGroupSids {
    # S4U logon of the computer account (identification level): its token lists every group,
    # nested and well-known, that the account has on the network.
    param([string]$Principal)
    $identity = [System.Security.Principal.WindowsIdentity]::new($Principal)
    $sids = New-List
    foreach ($group in $identity.Groups) { $sids.Add($group.Value) }
    return , $sids
}

function Get-LocalGroupList {
    $groups = New-List
    foreach ($group in Get-LocalGroup) {
        $members = New-List
        try {
            foreach ($member in Get-LocalGroupMember -SID $group.SID) { $members.Add($member.SID.Value) }
        }
        catch {
            # Get-LocalGroupMember fails on a group holding an orphaned SID; report the group empty.
            $members = New-List
        }
        $groups.Add([ordered]@{ sid = $group.SID.Value; name = $group.Name; members = $members })
    }
    return , $groups
}

function Get-IdentitySection {
    $system = Get-Cim 'Win32_ComputerSystem'
    $name = Get-Text $system.Name
    $joined = [bool]$system.PartOfDomain
    $section = [ordered]@{
        computer_name = $name
        fqdn          = if ($joined) { "$($system.DNSHostName).$($system.Domain)" } else { Get-Text $system.DNSHostName }
        part_of_domain = $joined
        domain        = $null
        dns_domain    = if ($joined) { Get-Text $system.Domain } else { $null }
        forest        = $null
        account_name  = $null
        account_sid   = $null
        domain_sid    = $null
        group_sids    = $null
    }
    # Domain controllers have no local groups to list (no local SAM): leave the field out.
    try { $section.local_groups = Get-LocalGroupList }
    catch { $section.Remove('local_groups') }
    if (-not $joined) { return $section }
    $domain = Get-Cim 'Win32_NTDomain' | Where-Object { $_.DomainName -and $_.DnsForestName } | Select-Object -First 1
    if ($domain) {
        $section.domain = Get-Text $domain.DomainName
        $section.forest = Get-Text $domain.DnsForestName
    }
    # LocalSystem reaches the network as the computer account DOMAIN\NAME$.
    $account = if ($section.domain) { "$($section.domain)\$name`$" } else { "$name`$" }
    $sid = Get-ComputerAccountSid $account
    $section.account_name = $sid.Translate([System.Security.Principal.NTAccount]).Value
    $section.account_sid = $sid.Value
    $section.domain_sid = $sid.AccountDomainSid.Value
    if (-not $section.domain) { $section.domain = $section.account_name.Split('\')[0] }
    try { $section.group_sids = Get-TokenGroupSids "$name`$@$($section.dns_domain)" }
    catch { $section.group_sids = $null }
    return $section
}

function Get-DomainTrusts {
    # The direct trusts of this computer's domain, from DsEnumerateDomainTrustsW with no server name: the local
    # Netlogon service answers, as it does for `nltest /domain_trusts`, so there is no second hop to a domain
    # controller, and the answer is flags and numbers, not nltest's words, which are translated on a localised
    # Windows ("DsEnumerateDomainTrustsW function (dsgetdc.h)", learn.microsoft.com/windows/win32/api/dsgetdc/
    # nf-dsgetdc-dsenumeratedomaintrustsw; "DS_DOMAIN_TRUSTSW structure", .../ns-dsgetdc-ds_domain_trustsw).
    if (-not ('BackupHyperV.NativeTrusts' -as [type])) {
        Add-Type -TypeDefinition @'
using System;
using System.Runtime.InteropServices;
namespace BackupHyperV {
    [StructLayout(LayoutKind.Sequential, CharSet = CharSet.Unicode)]
    public struct DomainTrust {
        public string NetbiosDomainName; public string DnsDomainName; public uint Flags; public uint ParentIndex;
        public uint TrustType; public uint TrustAttributes; public IntPtr DomainSid; public Guid DomainGuid;
    }
    public static class NativeTrusts {
        [DllImport("netapi32.dll", CharSet = CharSet.Unicode)]
        public static extern int DsEnumerateDomainTrustsW(string server, uint flags, out IntPtr domains, out uint count);
        [DllImport("netapi32.dll")]
        public static extern int NetApiBufferFree(IntPtr buffer);
    }
}
'@
    }
    $buffer = [IntPtr]::Zero
    $count = [uint32]0
    $direct = [uint32]0x22  # DS_DOMAIN_DIRECT_OUTBOUND | DS_DOMAIN_DIRECT_INBOUND
    # [NullString]::Value: PowerShell would pass $null to a string parameter as "", not as the local computer's null.
    $local = [NullString]::Value
    $status = [BackupHyperV.NativeTrusts]::DsEnumerateDomainTrustsW($local, $direct, [ref]$buffer, [ref]$count)
    if ($status -ne 0) { throw [System.ComponentModel.Win32Exception]::new($status) }
    try {
        $type = [BackupHyperV.DomainTrust]
        $size = [System.Runtime.InteropServices.Marshal]::SizeOf([type]$type)
        for ($index = 0; $index -lt $count; $index++) {
            $address = [IntPtr]::new($buffer.ToInt64() + $index * $size)
            [System.Runtime.InteropServices.Marshal]::PtrToStructure($address, [type]$type)
        }
    }
    finally {
        [void][BackupHyperV.NativeTrusts]::NetApiBufferFree($buffer)
    }
}

function ConvertFrom-DomainTrust {
    # One DS_DOMAIN_TRUSTSW entry as a trust of the facts; $null for this computer's own domain (DS_DOMAIN_PRIMARY).
    param($Trust, [string]$Source)
    if ($Trust.Flags -band 0x8) { return $null }
    $outbound = [bool]($Trust.Flags -band 0x2)
    $inbound = [bool]($Trust.Flags -band 0x20)
    $direction = if ($outbound -and $inbound) { 'Bidirectional' } elseif ($outbound) { 'Outbound' } elseif ($inbound) { 'Inbound' } else { $null }
    if (-not $direction) { return $null }  # reached only through another trust
    $types = @{ 1 = 'Downlevel'; 2 = 'Uplevel'; 3 = 'MIT'; 4 = 'DCE' }  # TRUST_TYPE_*
    # TRUST_ATTRIBUTE_NON_TRANSITIVE 0x1, _FOREST_TRANSITIVE 0x8, _WITHIN_FOREST 0x20
    $withinForest = [bool]($Trust.TrustAttributes -band 0x20)
    $forestTransitive = [bool]($Trust.TrustAttributes -band 0x8)
    $transitive = if ($Trust.TrustAttributes -band 0x1) { $false } elseif ($withinForest -or $forestTransitive) { $true } else { $null }
    $netbios = "$($Trust.NetbiosDomainName)"
    return [ordered]@{
        source            = $Source
        target            = if ($Trust.DnsDomainName) { "$($Trust.DnsDomainName)" } else { $netbios }
        target_netbios    = $netbios
        direction         = $direction
        trust_type        = if ($types.ContainsKey([int]$Trust.TrustType)) { $types[[int]$Trust.TrustType] } else { $null }
        forest_transitive = $forestTransitive
        intra_forest      = $withinForest
        transitive        = $transitive
    }
}

function Get-TrustsSection {
    $trusts = New-List
    $system = Get-Cim 'Win32_ComputerSystem'
    if (-not $system.PartOfDomain) { return , $trusts }
    foreach ($entry in Get-DomainTrusts) {
        $trust = ConvertFrom-DomainTrust $entry "$($system.Domain)"
        if ($trust) { $trusts.Add($trust) }
    }
    return , $trusts
}
