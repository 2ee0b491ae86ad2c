# Value helpers shared by the probing scripts, which include it (#include values_common.ps1): host_facts,
# proxy_components_read, vss_provider_read and repository_folder_read. The collection's action plugins send each
# script with its includes expanded (plugin_utils/_pwsh.py).

function New-List {
    # List[object], never an array: Windows PowerShell 5.1 can serialise a wrapped array as
    # {"value": [...], "Count": n}. The comma keeps an empty list from being unrolled to nothing.
    return , [System.Collections.Generic.List[object]]::new()
}

function Get-Text {
    # A value as trimmed text; $null for no value or blank text.
    param($Value)
    if ($null -eq $Value) { return $null }
    $text = "$Value".Trim()
    if ($text -eq '') { return $null }
    return $text
}
