# Probe of backup.hyperv.host_facts: collects every section of the hyperv_offhost facts document
# (plugins/plugin_utils/facts/hyperv_offhost.schema.json) in one run and returns it as one object.
# Each section is collected in its own try/catch: a failing section becomes
# @{ error = @{ message; category; exception } } and the others are still reported.
# Lists are built as List[object], never arrays: Windows PowerShell 5.1 can serialise a wrapped
# array as {"value": [...], "Count": n}. Enumerations are written as their names, not numbers.
[CmdletBinding()]
param(
    [int]$ProbeTimeout = 60,
    [object[]]$Components = @()
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$SchemaVersion = '1.0'

#include process_common.ps1
#include values_common.ps1

function Get-EnumName {
    # Storage cmdlets return some enumerations as raw UInt16; map those, keep names as they are.
    param($Value, [hashtable]$Names)
    if ($null -eq $Value) { return $null }
    if ($Value -is [System.ValueType] -and -not ($Value -is [System.Enum]) -and $Names.ContainsKey([int]$Value)) {
        return $Names[[int]$Value]
    }
    return Get-Text $Value
}

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

$script:DiskCache = $null
function Get-DiskList {
    if ($null -eq $script:DiskCache) { $script:DiskCache = @(Get-Disk) }
    return $script:DiskCache
}

$UniqueIdFormats = @{ 0 = 'Vendor Specific'; 1 = 'Vendor Id'; 2 = 'EUI64'; 3 = 'FCPH Name'; 8 = 'SCSI Name String' }
$BusTypes = @{
    0 = 'Unknown'; 1 = 'SCSI'; 2 = 'ATAPI'; 3 = 'ATA'; 4 = '1394'; 5 = 'SSA'; 6 = 'Fibre Channel'; 7 = 'USB'
    8 = 'RAID'; 9 = 'iSCSI'; 10 = 'SAS'; 11 = 'SATA'; 12 = 'SD'; 13 = 'MMC'; 15 = 'File Backed Virtual'
    16 = 'Storage Spaces'; 17 = 'NVMe'
}
$OperationalStates = @{
    0 = 'Unknown'; 1 = 'Other'; 2 = 'OK'; 0xD010 = 'Online'; 0xD011 = 'Not Ready'; 0xD012 = 'No Media'
    0xD013 = 'Offline'; 0xD014 = 'Failed'
}

function Get-LunId {
    param($Disk)
    return [ordered]@{
        serial_number    = Get-Text $Disk.SerialNumber
        unique_id        = Get-Text $Disk.UniqueId
        unique_id_format = Get-EnumName $Disk.UniqueIdFormat $UniqueIdFormats
        disk_number      = if ($null -ne $Disk.Number) { [int]$Disk.Number } else { $null }
    }
}

function Get-OsSection {
    $os = Get-Cim 'Win32_OperatingSystem'
    $system = Get-Cim 'Win32_ComputerSystem'
    $current = Get-ItemProperty -LiteralPath 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
    $model = Get-Text $system.Model
    $maker = Get-Text $system.Manufacturer
    # Model strings virtual platforms report in Win32_ComputerSystem (Hyper-V, VMware, KVM, Xen, VirtualBox).
    $virtual = "$maker|$model" -match 'Virtual Machine|VMware|KVM|QEMU|HVM domU|VirtualBox'
    return [ordered]@{
        caption            = Get-Text $os.Caption
        version            = Get-Text $os.Version
        build              = [int]$os.BuildNumber
        ubr                = if ($null -ne $current.UBR) { [int]$current.UBR } else { $null }
        manufacturer       = $maker
        model              = $model
        is_virtual_machine = [bool]$virtual
    }
}

function Get-HyperVSection {
    # The Virtual Machine Management service exists exactly when the Hyper-V role is installed.
    $service = Get-Service -Name 'vmms' -ErrorAction SilentlyContinue
    return [ordered]@{
        installed = $null -ne $service
        version   = if ($service) { Get-FileVersion "$env:SystemRoot\System32\vmms.exe" } else { $null }
    }
}

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

function Get-ClusterSection {
    # Windows disables the cluster service on a machine that is not a node of a cluster.
    $service = Get-Service -Name 'ClusSvc' -ErrorAction SilentlyContinue
    if (-not $service -or "$($service.StartType)" -eq 'Disabled') { return $null }
    $cluster = Get-Cluster
    $nodes = New-List
    foreach ($node in Get-ClusterNode -InputObject $cluster) {
        $nodes.Add([ordered]@{ name = "$($node.Name)"; state = Get-Text $node.State })
    }
    $volumes = New-List
    foreach ($csv in Get-ClusterSharedVolume -InputObject $cluster) {
        $volumes.Add([ordered]@{
                name       = "$($csv.Name)"
                path       = "$($csv.SharedVolumeInfo[0].FriendlyVolumeName)"
                owner_node = Get-Text $csv.OwnerNode.Name
                state      = Get-Text $csv.State
                luns       = Get-CsvLun $csv
            })
    }
    return [ordered]@{ name = "$($cluster.Name)"; nodes = $nodes; shared_volumes = $volumes }
}

function Get-CsvLun {
    # A CSV's disk resource names its disk by GPT disk id or MBR signature; Get-Disk has both.
    param($Csv)
    $luns = New-List
    $keys = @{}
    foreach ($parameter in Get-ClusterParameter -InputObject $Csv -Name 'DiskIdGuid', 'DiskSignature') {
        $keys[$parameter.Name] = $parameter.Value
    }
    foreach ($disk in Get-DiskList) {
        $byGuid = $keys.DiskIdGuid -and $disk.Guid -and ("$($disk.Guid)" -eq "$($keys.DiskIdGuid)")
        $bySignature = $keys.DiskSignature -and $disk.Signature -and ([uint64]$disk.Signature -eq [uint64]$keys.DiskSignature)
        if ($byGuid -or $bySignature) { $luns.Add((Get-LunId $disk)) }
    }
    return , $luns
}

function Test-DiskRead {
    # Opens \\.\PhysicalDriveN and reads its first 4 KiB (a whole sector for 512 and 4K disks).
    param([int]$Number)
    $stream = $null
    try {
        $path = "\\.\PhysicalDrive$Number"
        $mode = [System.IO.FileMode]::Open
        $stream = [System.IO.FileStream]::new($path, $mode, [System.IO.FileAccess]::Read, [System.IO.FileShare]::ReadWrite)
        $buffer = [byte[]]::new(4096)
        $read = $stream.ReadAsync($buffer, 0, $buffer.Length)
        if (-not $read.Wait($ProbeTimeout * 1000)) {
            $stream = $null  # disposing would wait for the stuck read
            return @{ readable = $false; read_error = "no data within $ProbeTimeout s" }
        }
        return @{ readable = $read.Result -gt 0; read_error = $null }
    }
    catch {
        return @{ readable = $false; read_error = "$($_.Exception.Message)" }
    }
    finally {
        if ($stream) { $stream.Dispose() }
    }
}

function Get-DisksSection {
    $disks = New-List
    foreach ($disk in Get-DiskList) {
        $test = Test-DiskRead ([int]$disk.Number)
        $lun = Get-LunId $disk
        $disks.Add([ordered]@{
                number             = [int]$disk.Number
                friendly_name      = Get-Text $disk.FriendlyName
                serial_number      = $lun.serial_number
                unique_id          = $lun.unique_id
                unique_id_format   = $lun.unique_id_format
                bus_type           = Get-EnumName $disk.BusType $BusTypes
                size               = if ($null -ne $disk.Size) { [int64]$disk.Size } else { $null }
                operational_status = Get-EnumName (@($disk.OperationalStatus)[0]) $OperationalStates
                is_offline         = [bool]$disk.IsOffline
                is_read_only       = [bool]$disk.IsReadOnly
                readable           = $test.readable
                read_error         = $test.read_error
            })
    }
    return , $disks
}

function Get-VssProvidersSection {
    $types = @{ 0 = 'unknown'; 1 = 'system'; 2 = 'software'; 3 = 'hardware' }
    $providers = New-List
    foreach ($provider in Get-Cim 'Win32_ShadowProvider') {
        $type = if ($types.ContainsKey([int]$provider.Type)) { $types[[int]$provider.Type] } else { 'unknown' }
        # Windows exposes no flag for transportable support; the provider's vendor documents it.
        $providers.Add([ordered]@{
                id            = "$($provider.ID)"
                name          = "$($provider.Name)"
                type          = $type
                version       = Get-Text $provider.Version
                transportable = $null
            })
    }
    return , $providers
}

function Get-FeaturesSection {
    $binaries = @{
        'Hyper-V'               = "$env:SystemRoot\System32\vmms.exe"
        'Failover-Clustering'   = "$env:SystemRoot\Cluster\clussvc.exe"
        'FS-Data-Deduplication' = "$env:SystemRoot\System32\ddpsvc.dll"
    }
    $features = New-List
    foreach ($feature in Get-WindowsFeature -Name 'Hyper-V', 'Failover-Clustering', 'FS-Data-Deduplication') {
        $features.Add([ordered]@{
                name          = "$($feature.Name)"
                display_name  = Get-Text $feature.DisplayName
                install_state = Get-Text $feature.InstallState
                installed     = [bool]$feature.Installed
                version       = if ($feature.Installed) { Get-FileVersion $binaries["$($feature.Name)"] } else { $null }
            })
    }
    return , $features
}

function Get-DedupVolumesSection {
    $volumes = New-List
    if (-not (Get-Command -Name 'Get-DedupVolume' -ErrorAction SilentlyContinue)) { return , $volumes }
    foreach ($volume in Get-DedupVolume) {
        $volumes.Add([ordered]@{
                volume     = "$($volume.Volume)"
                enabled    = [bool]$volume.Enabled
                usage_type = Get-Text $volume.UsageType
            })
    }
    return , $volumes
}

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

function Get-VirtualDiskFormat {
    # The extension names the format (.avhd/.avhdx are checkpoint differencing disks); Get-VHD
    # reads the file for anything else. A pass-through disk has no file: Unknown.
    param([string]$Path)
    $formats = @{ '.vhd' = 'VHD'; '.avhd' = 'VHD'; '.vhdx' = 'VHDX'; '.avhdx' = 'VHDX'; '.vhds' = 'VHDSet' }
    try {
        $extension = [System.IO.Path]::GetExtension($Path).ToLowerInvariant()
        if ($formats.ContainsKey($extension)) { return $formats[$extension] }
        return "$((Get-VHD -Path $Path).VhdFormat)"
    }
    catch {
        return 'Unknown'
    }
}

function Get-VmsSection {
    $vms = New-List
    if (-not (Get-Command -Name 'Get-VM' -ErrorAction SilentlyContinue)) { return , $vms }
    foreach ($vm in Get-VM) {
        $disks = New-List
        foreach ($drive in Get-VMHardDiskDrive -VM $vm) {
            $disks.Add([ordered]@{
                    path                = "$($drive.Path)"
                    format              = Get-VirtualDiskFormat $drive.Path
                    controller_type     = Get-Text $drive.ControllerType
                    controller_number   = [int]$drive.ControllerNumber
                    controller_location = [int]$drive.ControllerLocation
                })
        }
        $vms.Add([ordered]@{ name = "$($vm.Name)"; id = Get-Text $vm.VMId; state = Get-Text $vm.State; disks = $disks })
    }
    return , $vms
}

function Get-ServiceExecutable {
    # Win32_Service.PathName is a command line: a quoted path, or an unquoted one followed by arguments.
    param([string]$PathName)
    if (-not $PathName) { return $null }
    if ($PathName -match '^\s*"([^"]+)"') { return [Environment]::ExpandEnvironmentVariables($Matches[1]) }
    if ($PathName -match '^\s*(.+?\.exe)\b') { return [Environment]::ExpandEnvironmentVariables($Matches[1]) }
    return [Environment]::ExpandEnvironmentVariables($PathName.Trim())
}

function Get-ComponentsSection {
    $installed = @{}
    foreach ($service in Get-Cim 'Win32_Service') { $installed["$($service.Name)".ToLowerInvariant()] = $service }
    $found = New-List
    foreach ($component in $Components) {
        $service = $installed["$($component.Service)".ToLowerInvariant()]
        if (-not $service) { continue }
        $found.Add([ordered]@{
                role         = "$($component.Role)"
                service_name = "$($service.Name)"
                display_name = Get-Text $service.DisplayName
                version      = Get-FileVersion (Get-ServiceExecutable $service.PathName)
                state        = Get-Text $service.State
                start_mode   = Get-Text $service.StartMode
            })
    }
    return , $found
}

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
