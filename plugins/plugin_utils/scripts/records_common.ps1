# Where the collection keeps its records on a host, and where Windows lists installed products; shared by
# the scripts that read or write them, which include it (#include records_common.ps1). The collection's
# action plugins send each script with its includes expanded (plugin_utils/_pwsh.py).

# proxy_components writes <root>\<component> once a component is installed: Version, Role, Destination,
# Service (when it runs as one) and, for the data_mover role, Runtime and Engine relative to Destination
# (desired_state/component_record.py); proxy_components_read reads it (and removes a Service the manifest no
# longer declares), data_mover_run finds the data mover by its Role, host_facts lists the components by it.
$ComponentRecordRoot = 'HKLM:\SOFTWARE\backup.hyperv\Components'
# vss_provider_apply writes <root>\<provider name> (never the password); vss_provider_read reads it.
$VssProviderRecordRoot = 'HKLM:\SOFTWARE\backup.hyperv\VssProviders'
# An installer's Uninstall key: the 64-bit view, then the 32-bit one (WOW6432Node).
$UninstallRoots = @(
    'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall',
    'HKLM:\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall'
)

function Join-HostPath {
    # A component's folder and a path relative to it, joined as text. Join-Path asks the FileSystem provider
    # for the drive and throws DriveNotFoundException in Windows PowerShell 5.1 when the drive does not exist
    # on this host (PowerShell/PowerShell issue 4386); a component on such a drive is absent, and
    # Test-Path -LiteralPath on the joined text says so ($false) instead of failing the whole read.
    param([string]$Folder, [string]$RelativePath)
    return $Folder.TrimEnd('\') + '\' + $RelativePath.TrimStart('\')
}
