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

function ConvertTo-QuotedLiteral {
    # Text as a single-quoted PowerShell literal: each quote doubled, the typographic ones too (the tokenizer
    # takes U+2018 to U+201B for single quotes as well).
    param([string]$Text)
    return "'" + ($Text -replace "['\u2018\u2019\u201A\u201B]", '$0$0') + "'"
}

function New-RedirectedRunner {
    # The text of a small Windows PowerShell script that runs a program to its end with its stdout and stderr
    # written to files (UTF-8), then writes its exit code to a third file (written under another name and
    # renamed, so a reader that sees it sees the whole number): what a scheduled task runs, since Task Scheduler
    # has no redirection of its own. Start-Process opens the output files shared for reading, so another
    # process can follow them while the program writes.
    # -Environment: variables the program gets besides the task's own.
    param([string]$FilePath, [string]$Arguments, [string]$StdOut, [string]$StdErr, [string]$ExitCodeFile, [hashtable]$Environment = @{})
    return @(
        '$ErrorActionPreference = ''Stop'''
        foreach ($name in $Environment.Keys) { '[Environment]::SetEnvironmentVariable({0}, {1})' -f (ConvertTo-QuotedLiteral $name), (ConvertTo-QuotedLiteral ([string]$Environment[$name])) }
        ('$process = Start-Process -FilePath {0} -ArgumentList {1} -RedirectStandardOutput {2} -RedirectStandardError {3} -NoNewWindow -PassThru -Wait' -f
            (ConvertTo-QuotedLiteral $FilePath), (ConvertTo-QuotedLiteral $Arguments), (ConvertTo-QuotedLiteral $StdOut), (ConvertTo-QuotedLiteral $StdErr))
        ('[IO.File]::WriteAllText({0}, [string]$process.ExitCode)' -f (ConvertTo-QuotedLiteral "$ExitCodeFile.tmp"))
        ('Move-Item -LiteralPath {0} -Destination {1} -Force' -f (ConvertTo-QuotedLiteral "$ExitCodeFile.tmp"), (ConvertTo-QuotedLiteral $ExitCodeFile))
    ) -join "`r`n"
}
