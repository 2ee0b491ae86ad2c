# Where the collection keeps its records on a host, and where Windows lists installed products; shared by
# the scripts that read or write them, which include it (#include records_common.ps1). The collection's
# action plugins send each script with its includes expanded (plugin_utils/_pwsh.py).

# proxy_components writes <root>\<component>\Version once a component is installed; data_mover_run and
# proxy_components_read read it.
$ComponentRecordRoot = 'HKLM:\SOFTWARE\backup.hyperv\Components'
# vss_provider_apply writes <root>\<provider name> (never the password); vss_provider_read reads it.
$VssProviderRecordRoot = 'HKLM:\SOFTWARE\backup.hyperv\VssProviders'
# An installer's Uninstall key: the 64-bit view, then the 32-bit one (WOW6432Node).
$UninstallRoots = @(
    'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall',
    'HKLM:\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall'
)
