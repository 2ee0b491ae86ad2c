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

function ConvertFrom-NltestLine {
    # One line of `nltest /domain_trusts`: "N: NETBIOS dns.name (NT 5) (Direct Outbound) ... ( Attr: ... )".
    param([string]$Line, [string]$Source)
    if ($Line -notmatch '^\s*\d+:\s+(\S+)\s+(\S+)?\s*(.*)$') { return $null }
    $netbios = $Matches[1]
    $dns = $Matches[2]
    $flags = $Matches[3]
    if ($dns -like '(*') { $flags = "$dns $flags"; $dns = $null }
    if ($flags -match '\(Primary Domain\)') { return $null }
    $outbound = $flags -match 'Direct Outbound'
    $inbound = $flags -match 'Direct Inbound'
    $direction = if ($outbound -and $inbound) { 'Bidirectional' } elseif ($outbound) { 'Outbound' } elseif ($inbound) { 'Inbound' } else { $null }
    if (-not $direction) { return $null }  # reached only through another trust
    $type = if ($flags -match '\(NT 5\)') { 'Uplevel' } elseif ($flags -match '\(NT 4\)') { 'Downlevel' } elseif ($flags -match '\(MIT\)') { 'MIT' } elseif ($flags -match '\(DCE\)') { 'DCE' } else { $null }
    $withinForest = $flags -match 'withinforest'
    $forestTransitive = $flags -match 'foresttrans'
    $transitive = if ($flags -match 'non-?trans') { $false } elseif ($withinForest -or $forestTransitive) { $true } else { $null }
    return [ordered]@{
        source            = $Source
        target            = if ($dns) { $dns } else { $netbios }
        target_netbios    = $netbios
        direction         = $direction
        trust_type        = $type
        forest_transitive = [bool]$forestTransitive
        intra_forest      = [bool]$withinForest
        transitive        = $transitive
    }
}

function Get-TrustsSection {
    # nltest asks the local Netlogon service, so it needs no second hop to a domain controller.
    $trusts = New-List
    $system = Get-Cim 'Win32_ComputerSystem'
    if (-not $system.PartOfDomain) { return , $trusts }
    $nltest = "$env:SystemRoot\System32\nltest.exe"
    $result = Invoke-Program -FilePath $nltest -Arguments '/domain_trusts' -TimeoutSeconds $ProbeTimeout
    if ($result.ExitCode -ne 0) { throw "nltest /domain_trusts failed with exit code $($result.ExitCode)" }
    foreach ($line in $result.StdOut -split "`r?`n") {
        $trust = ConvertFrom-NltestLine $line "$($system.Domain)"
        if ($trust) { $trusts.Add($trust) }
    }
    return , $trusts
}
