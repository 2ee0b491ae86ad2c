"""What an emulated command produced, and how WinRS and PSRP each carry it back.

PowerShell has an output stream (objects; here always strings), an error stream (error
records), text written straight to the console's stderr (`$host.UI.WriteErrorLine`, cmd.exe
messages) and an exit code when the script calls `exit`. Over WinRS, powershell.exe prints
output lines to stdout and serialises error records to stderr as CLIXML (`#< CLIXML`), the
form pywinrm's `run_ps` and Ansible's winrm plugin decode; over PSRP each stream is a PSRP
message (see wire/psrp.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape


@dataclass
class Outcome:
    output: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    exit_code: int | None = None
    failed: bool = False  # the last error was terminating (a throw): a PSRP pipeline ends Failed
    handled_by: str = ""  # for the request log: which emulation answered

    @property
    def rc(self) -> int:
        """The process exit code powershell.exe reports: `exit N`, else 1 when an error was written."""
        if self.exit_code is not None:
            return self.exit_code
        return 1 if self.errors or self.console_errors else 0

    def winrs_stdout(self) -> bytes:
        return "".join(f"{line}\r\n" for line in self.output).encode("utf-8")

    def winrs_stderr(self) -> bytes:
        text = "".join(f"{line}\r\n" for line in self.console_errors)
        if self.errors:
            text += clixml_errors(self.errors)
        return text.encode("utf-8")


def refused(handled_by: str, message: str) -> Outcome:
    """The lab does not know what was asked: fail loudly, naming it."""
    return Outcome(errors=[f"lab: {message}"], exit_code=1, failed=True, handled_by=handled_by)


def _clixml_text(text: str) -> str:
    return escape(text).replace("\r", "_x000D_").replace("\n", "_x000A_")


def clixml_errors(messages: list[str]) -> str:
    """Error records as powershell.exe writes them to a redirected stderr."""
    body = "".join(f'<S S="Error">{_clixml_text(message + chr(13) + chr(10))}</S>' for message in messages)
    return f'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">{body}</Objs>'
