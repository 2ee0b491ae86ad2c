# Read step of backup.hyperv.vm_restore, on the target Hyper-V host; changes nothing (Compare-VM only reports).
# Params: Vm (the restore point's VM), Source (folder of the restored files), Location (original | new),
#   Configuration (file name or ''), Name (new VM's name), VirtualMachinePath, VhdPath (new VM's folders),
#   Switches ([{ Source; Target or $null }]), Prepare (original: only the VM to replace, the source is not read),
#   InPlace (original: the disks were rolled back over the VM's own files; the source holds its configuration files).
# Checks beside Compare-VM, which reports what the import itself would refuse:
#   * the VM ID (Hyper-V names a .vmcx by it) registered already, for an import that keeps it (original): unless it
#     is the VM being replaced;
#   * the configuration version among Get-VMHostSupportedVersion's ("You can only import a virtual machine if the
#     Hyper-V host supports that configuration version", "Upgrade virtual machine version in Hyper-V on Windows or
#     Windows Server", https://learn.microsoft.com/windows-server/virtualization/hyper-v/deploy/upgrade-virtual-machine-version-in-hyper-v-on-windows-or-windows-server);
#   * the configuration file, the source's disks and the target storage paths' roots present;
#   * for a new VM, no file of a disk's name in the disk folder already: Import-VM -Copy copies each disk there by
#     its file name and does not overwrite ("The file exists"), which Compare-VM does not report.
# Returns @{ Host = @{ ComputerName; Build; SupportedVersions; Cluster; Switches }; Existing (VM entry or $null);
#            Planned (the VM the import would register, or $null); Incompatibilities = [{ Kind; MessageId; Message; Subject }] }
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$Vm,
    [string]$Source = '',
    [Parameter(Mandatory = $true)][ValidateSet('new', 'original')][string]$Location,
    [string]$Configuration = '',
    [string]$Name = '',
    [string]$VirtualMachinePath = '',
    [string]$VhdPath = '',
    [object[]]$Switches = @(),
    [bool]$Prepare = $false,
    [bool]$InPlace = $false
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include values_common.ps1
#include vm_restore_common.ps1
#include vm_names_common.ps1

function New-Incompatibility {
    param([string]$Kind, [string]$Message, [string]$Subject)
    return [ordered]@{ Kind = $Kind; MessageId = $null; Message = $Message; Subject = $Subject }
}

$cluster = $null
if (Get-Command -Name Get-Cluster -ErrorAction SilentlyContinue) {
    $cluster = Get-Text (Get-Cluster -ErrorAction SilentlyContinue).Name
}
$supported = @(Get-VMHostSupportedVersion | ForEach-Object { "$($_.Version)" })
$hostInfo = [ordered]@{
    ComputerName = $env:COMPUTERNAME; Build = [Environment]::OSVersion.Version.Build; SupportedVersions = $supported
    Cluster = $cluster; Switches = @(Get-VMSwitch | ForEach-Object { "$($_.Name)" })
}
$reply = [ordered]@{ Host = $hostInfo; Existing = $null; Planned = $null; Incompatibilities = (New-List) }
$existing = $null
if ($Location -eq 'original') { $existing = Get-OneVmNamed -Name $Vm }
else {
    $taken = @(Get-VmNamed -Name $Name).Count -gt 0
    if ($taken) { $reply.Incompatibilities.Add((New-Incompatibility -Kind 'name_taken' -Message "VM '$Name' exists" -Subject $Name)) }
}
$reply.Existing = Get-VmEntry -Vm $existing
if ($Location -eq 'original' -and -not $existing) {
    $reply.Incompatibilities.Add((New-Incompatibility -Kind 'missing_vm' -Message "VM '$Vm' was not found" -Subject $Vm))
    return $reply
}
if ($Prepare) { return $reply }  # the step before a quick rollback: only the VM to turn off

$path = Get-SourceConfiguration -Source $Source -Configuration $Configuration
if (-not $path) {
    $reply.Incompatibilities.Add((New-Incompatibility -Kind 'path' -Message 'no configuration file' -Subject "the configuration file in $Source"))
    return $reply
}
$id = [IO.Path]::GetFileNameWithoutExtension($path)
if ($Location -eq 'original') {
    $holder = Get-VM -Id $id -ErrorAction SilentlyContinue
    if ($holder -and (-not $existing -or "$($holder.Id)" -ne "$($existing.Id)")) {
        $reply.Incompatibilities.Add((New-Incompatibility -Kind 'id_conflict' -Message 'Identifier already exists' -Subject "VM '$($holder.Name)', ID $id"))
    }
}
$target = Get-RestoreTarget -Location $Location -VirtualMachinePath $VirtualMachinePath -VhdPath $VhdPath -Existing $existing
foreach ($folder in @($target.VirtualMachinePath, $target.VhdPath) | Sort-Object -Unique) {
    $root = [IO.Path]::GetPathRoot($folder)
    if (-not (Test-Path -LiteralPath $root)) {
        $reply.Incompatibilities.Add((New-Incompatibility -Kind 'path' -Message 'path not found' -Subject "storage path $folder"))
    }
}
if (@($target.Folders).Count -gt 1) {
    $reply.Incompatibilities.Add((New-Incompatibility -Kind 'layout' -Message 'disks in several folders' -Subject ($target.Folders -join ', ')))
}
if ($reply.Incompatibilities.Count -gt 0) { return $reply }
try { $report = New-RestoreReport -Path $path -Source $Source -Location $Location -Target $target -Switches $Switches -InPlace $InPlace }
catch {
    $reply.Incompatibilities.Add((New-Incompatibility -Kind 'other' -Message "Compare-VM: $($_.Exception.Message)" -Subject $null))
    return $reply
}
$version = "$($report.VM.Version)"
if ($supported -notcontains $version) {
    $reply.Incompatibilities.Add((New-Incompatibility -Kind 'version' -Message 'configuration version not supported' -Subject $version))
}
foreach ($entry in (Get-IncompatibilityEntry -Report $report)) { $reply.Incompatibilities.Add($entry) }
if ($Location -eq 'new') {
    foreach ($drive in @($report.VM.HardDrives)) {
        $copy = Join-Path -Path $target.VhdPath -ChildPath ([IO.Path]::GetFileName("$($drive.Path)"))
        if (Test-Path -LiteralPath $copy) {
            $reply.Incompatibilities.Add((New-Incompatibility -Kind 'file_exists' -Message 'a file of that name exists' -Subject $copy))
        }
    }
}
$reply.Planned = Get-VmEntry -Vm $report.VM
if ($Location -eq 'new') { $reply.Planned.Name = $Name; $reply.Planned.Id = $null }
return $reply
