# Sections of the hyperv_offhost facts about storage: cluster (its shared volumes' LUNs), disks
# and dedup_volumes.
# Included by host_facts.ps1 (#include facts_storage.ps1), the driver: it says what the collectors may use.

function Get-EnumName {
    # Storage cmdlets return some enumerations as raw UInt16; map those, keep names as they are.
    param($Value, [hashtable]$Names)
    if ($null -eq $Value) { return $null }
    if ($Value -is [System.ValueType] -and -not ($Value -is [System.Enum]) -and $Names.ContainsKey([int]$Value)) {
        return $Names[[int]$Value]
    }
    return Get-Text $Value
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

function Get-ClusterSection {
    # Windows disables the cluster service on a machine that is not a node of a cluster.
    $service = Get-Service -Name 'ClusSvc' -ErrorAction SilentlyContinue
    if (-not $service -or "$($service.StartType)" -eq 'Disabled') { return $null }
    Assert-Module 'FailoverClusters' 'RSAT-Clustering-PowerShell'
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

function Open-PhysicalDrive {
    # A stream over \\.\PhysicalDriveN opened by CreateFileW and wrapped in a SafeFileHandle. FileStream's own
    # constructor refuses a "\\.\" path under .NET Framework's legacy path handling, which some hosts of
    # Windows PowerShell 5.1 run with ("FileStream will not open Win32 devices"). CreateFileW with GENERIC_READ,
    # FILE_SHARE_READ | FILE_SHARE_WRITE and OPEN_EXISTING is how Microsoft says to open a disk: "CreateFileW
    # function (fileapi.h)", section "Physical Disks and Volumes",
    # learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-createfilew
    param([int]$Number)
    if (-not ('BackupHyperV.NativeDisk' -as [type])) {
        Add-Type -Namespace 'BackupHyperV' -Name 'NativeDisk' -MemberDefinition @'
[DllImport("kernel32.dll", CharSet = CharSet.Unicode, SetLastError = true)]
public static extern Microsoft.Win32.SafeHandles.SafeFileHandle CreateFileW(string fileName, uint desiredAccess,
    uint shareMode, IntPtr securityAttributes, uint creationDisposition, uint flagsAndAttributes, IntPtr templateFile);
'@
    }
    $genericRead = [uint32]2147483648  # GENERIC_READ, 0x80000000
    $shareReadWrite = [uint32]3  # FILE_SHARE_READ | FILE_SHARE_WRITE
    $openExisting = [uint32]3
    $handle = [BackupHyperV.NativeDisk]::CreateFileW("\\.\PhysicalDrive$Number", $genericRead, $shareReadWrite,
        [IntPtr]::Zero, $openExisting, [uint32]0, [IntPtr]::Zero)
    if ($handle.IsInvalid) {
        throw [System.ComponentModel.Win32Exception]::new([System.Runtime.InteropServices.Marshal]::GetLastWin32Error())
    }
    return [System.IO.FileStream]::new($handle, [System.IO.FileAccess]::Read, 4096, $false)
}

function Test-DiskRead {
    # Reads the first 4 KiB of \\.\PhysicalDriveN (a whole sector for 512 and 4K disks).
    param([int]$Number)
    $stream = $null
    try {
        $stream = Open-PhysicalDrive $Number
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
