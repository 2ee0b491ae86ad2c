#AnsibleRequires -CSharpUtil Ansible.Basic
# A PowerShell module for the lab's tests: no handler is registered for it, so the lab refuses it by name.
$module = [Ansible.Basic.AnsibleModule]::Create($args, @{ options = @{} })
$module.ExitJson()
