#!/usr/bin/env bash
# ansible-doc must render every module and role of the installed collection.
# Usage: check_docs.sh VENV_BIN COLLECTIONS_PATH
set -euo pipefail
bin=$1
export ANSIBLE_COLLECTIONS_PATH=$(cd "$2" && pwd)
root="$ANSIBLE_COLLECTIONS_PATH/ansible_collections/backup/hyperv"
count=0
for module in "$root"/plugins/modules/*.py; do
  name=$(basename "$module" .py)
  "$bin/ansible-doc" -t module "backup.hyperv.$name" >/dev/null
  count=$((count + 1))
done
for role in "$root"/roles/*/; do
  [[ -d "$role" ]] || continue
  "$bin/ansible-doc" -t role "backup.hyperv.$(basename "$role")" >/dev/null
  count=$((count + 1))
done
echo "ansible-doc rendered $count modules and roles from $root"
