# The smb section of the hyperv_offhost facts: the host's shares and their permissions.
# Included by host_facts.ps1 (#include facts_smb.ps1), the driver: it says what the collectors may use.

function Get-SmbSection {
    $shares = New-List
    foreach ($share in Get-SmbShare | Where-Object { -not $_.Special }) {
        $entry = [ordered]@{
            name                   = "$($share.Name)"
            path                   = "$($share.Path)"
            scope_name             = Get-Text $share.ScopeName
            continuously_available = [bool]$share.ContinuouslyAvailable
            share_sddl             = Get-Text $share.SecurityDescriptor
            path_sddl              = $null
        }
        try { $entry.path_sddl = (Get-Acl -LiteralPath $share.Path).Sddl }
        catch {
            $entry.error = [ordered]@{
                message   = "$($_.Exception.Message)"
                category  = "$($_.CategoryInfo.Category)"
                exception = $_.Exception.GetType().FullName
            }
        }
        $shares.Add($entry)
    }
    if ($shares.Count -eq 0) { return $null }
    return [ordered]@{ shares = $shares }
}
