# Shared by the shadow_copy_*.ps1 scripts, which include it (#include diskshadow_common.ps1): the
# collection's action plugins send each script with its includes expanded (plugin_utils/_pwsh.py).

#include process_common.ps1

function Invoke-DiskShadow {
    # Runs "diskshadow /s <script>"; returns its output, throws with its last lines on a non-zero exit code (the
    # exception's Data['Output'] holds the whole output).
    param([string[]]$Lines, [string]$Folder, [string]$What)
    $scriptPath = Join-Path -Path $Folder -ChildPath 'diskshadow.dsh'
    Set-Content -LiteralPath $scriptPath -Value $Lines -Encoding ASCII
    $exe = Join-Path -Path $env:SystemRoot -ChildPath 'System32\diskshadow.exe'
    $run = Invoke-Program -FilePath $exe -Arguments "/s `"$scriptPath`""
    if ($run.ExitCode -ne 0) {
        $lines = "$($run.StdOut)$($run.StdErr)" -split "`r?`n" | Where-Object { $_.Trim() } | Select-Object -Last 5
        $failure = [System.Exception]::new("diskshadow exited with $($run.ExitCode) while $What`: $($lines -join ' | ')")
        $failure.Data['Output'] = "$($run.StdOut)$($run.StdErr)"  # all of it, for a caller that tells failures apart
        throw $failure
    }
    return $run.StdOut
}
