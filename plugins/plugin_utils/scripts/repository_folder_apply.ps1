# Apply of backup.hyperv.repository_folder: runs the plan's steps in order, stops at the first failure.
# Steps (made by plugins/plugin_utils/desired_state/repository_folder.py):
#   create_folder  Directory.CreateDirectory(path): the folder and any missing parent
#   set_security   owner and a protected DACL granting Full control, inherited by sub-folders and files, to each
#                  SID of `principals`: SetAccessRuleProtection($true, $false) removes inheritance and keeps no
#                  inherited ACE ("ObjectSecurity.SetAccessRuleProtection",
#                  https://learn.microsoft.com/dotnet/api/system.security.accesscontrol.objectsecurity.setaccessruleprotection)
# Returns @{ applied; reboot_required = $false; results = @( @{ action; path } ) }.
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][object[]]$Steps
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

#include steps_common.ps1

function New-FolderStep {
    param([object]$Step)
    [void][System.IO.Directory]::CreateDirectory([string]$Step.path)
    return [ordered]@{ action = 'create_folder'; path = [string]$Step.path }
}

function Set-SecurityStep {
    # A new DirectorySecurity holds only what is set here: writing it replaces the owner and the whole DACL.
    param([object]$Step)
    $security = [System.Security.AccessControl.DirectorySecurity]::new()
    $security.SetOwner([System.Security.Principal.SecurityIdentifier]::new([string]$Step.owner))
    $security.SetAccessRuleProtection($true, $false)
    $inherit = [System.Security.AccessControl.InheritanceFlags]'ContainerInherit, ObjectInherit'
    foreach ($sid in @($Step.principals)) {
        $rule = [System.Security.AccessControl.FileSystemAccessRule]::new(
            [System.Security.Principal.SecurityIdentifier]::new([string]$sid),
            [System.Security.AccessControl.FileSystemRights]::FullControl,
            $inherit,
            [System.Security.AccessControl.PropagationFlags]::None,
            [System.Security.AccessControl.AccessControlType]::Allow)
        $security.AddAccessRule($rule)
    }
    [System.IO.Directory]::SetAccessControl([string]$Step.path, $security)
    return [ordered]@{ action = 'set_security'; path = [string]$Step.path }
}

$actions = @{
    create_folder = { param($Step) New-FolderStep $Step }
    set_security  = { param($Step) Set-SecurityStep $Step }
}
$describe = { param($Step) "$($Step.action) $($Step.path)" }
$results = Invoke-PlanSteps -Steps $Steps -Actions $actions -Describe $describe
return @{ applied = $results.Count; reboot_required = $false; results = $results.ToArray() }
