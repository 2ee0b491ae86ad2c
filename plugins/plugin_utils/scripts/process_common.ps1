# Shared by every script that runs a program, which includes it (#include process_common.ps1): host_facts,
# data_mover_run, proxy_components_apply, vss_provider_apply, and the shadow_copy_* scripts through
# diskshadow_common.ps1. The collection's action plugins send each script with its includes expanded
# (plugin_utils/_pwsh.py).

function Invoke-Program {
    # Runs a program with a raw argument string (Windows programs parse their own command line) and returns
    # @{ ExitCode; StdOut; StdErr }. What an exit code means is the caller's to judge: each program has its own.
    # ProcessStartInfo rather than the call operator: Windows PowerShell 5.1 turns a native program's stderr
    # into error records, which $ErrorActionPreference = 'Stop' makes terminating. Both output streams are
    # read asynchronously, so a program filling one pipe never blocks; stdin gets -InputText (one line) or
    # nothing, then end of file, so a program that asks a question never waits for an answer.
    #   -TimeoutSeconds    0 waits until the program exits; otherwise the program is killed after that many
    #                      seconds and a TimeoutException names it
    #   -WorkingDirectory  '' keeps the current one
    #   -Environment       variables added to the inherited environment (a secret travels here, never in
    #                      the arguments)
    #   -Encoding          of stdout and stderr; $null reads them in the console's code page
    param(
        [string]$FilePath,
        [string]$Arguments = '',
        [string]$InputText = '',
        [int]$TimeoutSeconds = 0,
        [string]$WorkingDirectory = '',
        [hashtable]$Environment = @{},
        [System.Text.Encoding]$Encoding = $null
    )
    $start = [System.Diagnostics.ProcessStartInfo]::new($FilePath, $Arguments)
    $start.UseShellExecute = $false
    $start.RedirectStandardInput = $true
    $start.RedirectStandardOutput = $true
    $start.RedirectStandardError = $true
    $start.CreateNoWindow = $true
    if ($Encoding) {
        $start.StandardOutputEncoding = $Encoding
        $start.StandardErrorEncoding = $Encoding
    }
    if ($WorkingDirectory) { $start.WorkingDirectory = $WorkingDirectory }
    foreach ($name in $Environment.Keys) { $start.EnvironmentVariables[$name] = [string]$Environment[$name] }
    $process = [System.Diagnostics.Process]::Start($start)
    $stdout = $process.StandardOutput.ReadToEndAsync()
    $stderr = $process.StandardError.ReadToEndAsync()
    if ($InputText) { $process.StandardInput.WriteLine($InputText) }
    $process.StandardInput.Close()
    if ($TimeoutSeconds -le 0) {
        $process.WaitForExit()
    }
    elseif (-not $process.WaitForExit($TimeoutSeconds * 1000)) {
        $process.Kill()
        throw [System.TimeoutException]::new("$FilePath $Arguments gave no answer within $TimeoutSeconds s")
    }
    return [ordered]@{ ExitCode = $process.ExitCode; StdOut = $stdout.Result; StdErr = $stderr.Result }
}
