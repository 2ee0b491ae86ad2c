#AnsibleRequires -CSharpUtil Ansible.Basic
# A PowerShell module for the lab's tests (data/handlers.py answers it in the lab; it runs on Windows as is).
$spec = @{
    options = @{
        data = @{ type = 'str'; default = 'pong' }
        fail = @{ type = 'bool'; default = $false }
    }
}
$module = [Ansible.Basic.AnsibleModule]::Create($args, $spec)
if ($module.Params.fail) {
    $module.FailJson('the test asked lab_ps_module to fail')
}
$module.Result.ping = $module.Params.data
$module.Result.host = $env:COMPUTERNAME
$module.ExitJson()
