# Shared by the shadow_copy_*.ps1 scripts, which include it (#include diskshadow_common.ps1): the
# collection's action plugins send each script with its includes expanded (plugin_utils/_pwsh.py).

function Invoke-DiskShadow {
    # Runs "diskshadow /s <script>" (ProcessStartInfo, so its output is not turned into error records);
    # returns the output, throws with its last lines on a non-zero exit code.
    param([string[]]$Lines, [string]$Folder, [string]$What)
    $scriptPath = Join-Path -Path $Folder -ChildPath 'diskshadow.dsh'
    Set-Content -LiteralPath $scriptPath -Value $Lines -Encoding ASCII
    $exe = Join-Path -Path $env:SystemRoot -ChildPath 'System32\diskshadow.exe'
    $start = [System.Diagnostics.ProcessStartInfo]::new($exe, "/s `"$scriptPath`"")
    $start.UseShellExecute = $false
    $start.RedirectStandardOutput = $true
    $start.RedirectStandardError = $true
    $start.CreateNoWindow = $true
    $process = [System.Diagnostics.Process]::Start($start)
    $stderr = $process.StandardError.ReadToEndAsync()
    $output = $process.StandardOutput.ReadToEnd()
    $process.WaitForExit()
    if ($process.ExitCode -ne 0) {
        $lines = "$output$($stderr.Result)" -split "`r?`n" | Where-Object { $_.Trim() } | Select-Object -Last 5
        throw "diskshadow exited with $($process.ExitCode) while $What`: $($lines -join ' | ')"
    }
    return $output
}
