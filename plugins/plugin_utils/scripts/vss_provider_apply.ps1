# Apply of backup.hyperv.vss_provider: runs the plan's steps in order, stops at the first failure.
# Steps (made by plugins/plugin_utils/desired_state/provider.py):
#   install_package      msiexec /i (REINSTALL=ALL for the same product code) or the EXE with its arguments
#   configure_provider   the vendor's tool, its argument template filled in here; records the marker
#   verify_provider      Win32_ShadowProvider lists the provider with Type 3 (hardware)
#   uninstall_package    msiexec /x <product code>, or the Uninstall key's command for an EXE
#   remove_configuration deletes the marker
# -Password arrives on stdin with the request; it is written only into the vendor tool's
# arguments or stdin, and masked out of every message this script returns.
# Returns @{ applied = <steps run>; reboot_required = <an installer asked for a reboot>; restart_started = <an
# installer started the restart itself (1641): the steps after it did not run> }. A step that fails after an
# installer asked for a restart (3010) says so: what it checks may only hold once the host has restarted.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][object[]]$Steps,
    [string]$Password
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$Msiexec = Join-Path -Path $env:SystemRoot -ChildPath 'System32\msiexec.exe'
# Windows Installer exit codes (https://learn.microsoft.com/windows/win32/msi/error-codes).
$InstallerErrors = @{
    1602 = 'the user cancelled the installation'
    1603 = 'fatal error during installation'
    1605 = 'the product is not installed'
    1618 = 'another installation is already in progress; retry when it has finished'
    1619 = 'the package could not be opened'
    1638 = 'another version of this product is already installed'
}
$script:RebootRequired = $false
$script:RestartStarted = $false

#include process_common.ps1
#include records_common.ps1
#include steps_common.ps1

function Hide-Secret {
    param([string]$Text)
    if ($Password -and $Text) { return $Text.Replace($Password, '********') }
    return $Text
}

function Assert-InstallerExit {
    # 0 succeeded; 3010 succeeded, reboot required; 1641 succeeded, reboot started (ERROR_SUCCESS_REBOOT_REQUIRED,
    # ERROR_SUCCESS_REBOOT_INITIATED): the host is going down, so no step runs after it.
    param([int]$Code, [string]$What, [string]$Log)
    if ($Code -eq 0) { return }
    if ($Code -eq 3010 -or $Code -eq 1641) {
        $script:RebootRequired = $true
        $script:RestartStarted = $Code -eq 1641
        return
    }
    $reason = $InstallerErrors[$Code]
    if (-not $reason) { $reason = 'the installer reported an error' }
    $where = if ($Log) { " (log: $Log)" } else { '' }
    throw "$What failed with exit code ${Code}: $reason$where"
}

function Get-UninstallKey {
    param([string]$ProductId)
    foreach ($root in $UninstallRoots) {
        $path = Join-Path -Path $root -ChildPath $ProductId
        if (Test-Path -LiteralPath $path) { return Get-ItemProperty -LiteralPath $path }
    }
    return $null
}

function Install-ProviderPackage {
    param($Step)
    if (-not (Test-Path -LiteralPath $Step.path -PathType Leaf)) { throw "package $($Step.path) does not exist" }
    $log = $null
    if ($Step.type -eq 'msi') {
        $log = Join-Path -Path $env:TEMP -ChildPath "backup.hyperv-$($Step.product_id).log"
        $arguments = '/i "{0}" /qn /norestart /l*v "{1}"' -f $Step.path, $log
        if ($Step.reinstall) { $arguments += ' REINSTALL=ALL REINSTALLMODE=vomus' }
        if ($Step.arguments) { $arguments += ' ' + $Step.arguments }
        $result = Invoke-Program -FilePath $Msiexec -Arguments $arguments
    }
    else {
        $result = Invoke-Program -FilePath $Step.path -Arguments "$($Step.arguments)"
    }
    Assert-InstallerExit -Code $result.ExitCode -What "installing $($Step.path)" -Log $log
    if ($null -eq (Get-UninstallKey $Step.product_id)) {
        throw "installing $($Step.path) succeeded but no Uninstall key $($Step.product_id) exists; check product_id"
    }
}

function Set-ProviderConfiguration {
    param($Step)
    $values = @{
        controlling_server = "$($Step.controlling_server)"
        array_user         = "$($Step.array_user)"
        array_password     = "$Password"
    }
    $evaluator = { param($match) $values[$match.Groups[1].Value] }
    $arguments = [regex]::Replace("$($Step.arguments)", '\{(controlling_server|array_user|array_password)\}', $evaluator)
    $stdin = if ($Step.password_stdin) { $Password } else { $null }
    $result = Invoke-Program -FilePath $Step.command -Arguments $arguments -InputText $stdin
    if ($result.ExitCode -ne 0) {
        $output = "$($result.StdOut)$($result.StdErr)".Trim()
        $detail = Hide-Secret $output
        throw "$($Step.command) exited with code $($result.ExitCode): $detail"
    }
    $path = Join-Path -Path $VssProviderRecordRoot -ChildPath $Step.name
    if (-not (Test-Path -LiteralPath $path)) { $null = New-Item -Path $path -Force }
    Set-ItemProperty -LiteralPath $path -Name 'ControllingServer' -Value "$($Step.controlling_server)"
    Set-ItemProperty -LiteralPath $path -Name 'ArrayUser' -Value "$($Step.array_user)"
    Set-ItemProperty -LiteralPath $path -Name 'Command' -Value "$($Step.command)"
    Set-ItemProperty -LiteralPath $path -Name 'Arguments' -Value "$($Step.arguments)"
}

function Confirm-Provider {
    param($Step)
    $providers = Get-CimInstance -ClassName 'Win32_ShadowProvider'
    $found = $null
    foreach ($provider in $providers) {
        if ("$($provider.Name)" -eq $Step.name) { $found = $provider }
    }
    if ($null -eq $found) { throw "Windows lists no VSS provider named '$($Step.name)' (vssadmin list providers)" }
    if ([int]$found.Type -ne 3) {
        throw "VSS provider '$($Step.name)' is registered with Type $($found.Type); a transportable provider has Type 3 (hardware)"
    }
}

function Split-CommandLine {
    # The program and the rest of an UninstallString such as "C:\Vendor\uninst.exe" /S.
    param([string]$CommandLine)
    $line = $CommandLine.Trim()
    if ($line.StartsWith('"')) {
        $end = $line.IndexOf('"', 1)
        return @($line.Substring(1, $end - 1), $line.Substring($end + 1).Trim())
    }
    $space = $line.IndexOf(' ')
    if ($space -lt 0) { return @($line, '') }
    return @($line.Substring(0, $space), $line.Substring($space + 1).Trim())
}

function Uninstall-ProviderPackage {
    param($Step)
    if ($Step.type -eq 'msi') {
        $arguments = '/x {0} /qn /norestart' -f $Step.product_id
        if ($Step.arguments) { $arguments += ' ' + $Step.arguments }
        $result = Invoke-Program -FilePath $Msiexec -Arguments $arguments
        if ($result.ExitCode -eq 1605) { return }  # already gone
        Assert-InstallerExit -Code $result.ExitCode -What "removing $($Step.product_id)" -Log $null
        return
    }
    $program, $rest = Split-CommandLine $Step.command
    $arguments = "$rest $($Step.arguments)".Trim()
    $result = Invoke-Program -FilePath $program -Arguments $arguments
    Assert-InstallerExit -Code $result.ExitCode -What "removing $($Step.product_id)" -Log $null
}

function Remove-ProviderConfiguration {
    param($Step)
    $path = Join-Path -Path $VssProviderRecordRoot -ChildPath $Step.name
    if (Test-Path -LiteralPath $path) { Remove-Item -LiteralPath $path -Recurse -Force }
}

$actions = @{
    install_package      = { param($Step) Install-ProviderPackage $Step }
    configure_provider   = { param($Step) Set-ProviderConfiguration $Step }
    verify_provider      = { param($Step) Confirm-Provider $Step }
    uninstall_package    = { param($Step) Uninstall-ProviderPackage $Step }
    remove_configuration = { param($Step) Remove-ProviderConfiguration $Step }
}
$describe = { param($Step) "$($Step.action)" }
$mask = { param($Text) Hide-Secret $Text }
try { $done = Invoke-PlanSteps -Steps $Steps -Actions $actions -Describe $describe -Mask $mask -Until { $script:RestartStarted } }
catch {
    if (-not $script:RebootRequired) { throw }
    throw "$($_.Exception.Message). An installer step before it asked for a restart (exit code 3010): restart $env:COMPUTERNAME and run this again"
}
return [ordered]@{ applied = $done.Count; reboot_required = $script:RebootRequired; restart_started = $script:RestartStarted }
