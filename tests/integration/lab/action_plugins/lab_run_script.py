"""Test action: run one PowerShell script file through the collection's runner protocol.

`_pwsh.run_script` reads scripts from the collection's package; tests need their own script
files, so this action builds the same request from `path` and sends the same COMMAND with
`_low_level_execute_command`, as `run_script` does, then decodes the reply with `decode_reply`.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from ansible.plugins.action import ActionBase

from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import COMMAND, ScriptError, decode_reply


class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        path = Path(self._task.args["path"])
        name = path.stem
        request = {
            "name": name,
            "script": base64.b64encode(path.read_bytes()).decode(),
            "params": self._task.args.get("params", {}),
        }
        in_data = json.dumps(request, separators=(",", ":")).encode() + b"\n"
        reply = self._low_level_execute_command(COMMAND, in_data=in_data, sudoable=False)
        try:
            result["reply"] = decode_reply(name, reply)
        except ScriptError as exc:
            result.update(exc.to_result())
        return result
