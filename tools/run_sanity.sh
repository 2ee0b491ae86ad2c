#!/usr/bin/env bash
# Run ansible-test sanity on a copy of the collection staged in ansible_collections/backup/hyperv.
# Usage: run_sanity.sh VENV_BIN TEST [TEST ...]
set -euo pipefail
bin=$(cd "$1" && pwd); shift
repo=$(cd "$(dirname "$0")/.." && pwd)

# ansible-test bootstraps pip into its sanity venvs with a script from a host outside the
# package registries; seed its cache with our offline stand-in (see the script's docstring).
pip_version=$("$bin/python" - <<'PY'
import pathlib, re, ansible_test
source = (pathlib.Path(ansible_test.__file__).parent / "_internal/python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", source).group(1))
PY
)
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$cache")"
[[ -s "$cache" ]] || cp "$repo/tools/ansible_test_pip_bootstrap.py" "$cache"

# Stage outside the checkout: inside it, ansible-test would ask this repository's git for the file list.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
collection=$("$bin/python" "$repo/tools/stage_collection.py" "$stage")
cd "$collection"
args=()
for test in "$@"; do args+=(--test "$test"); done
PATH="$bin:$PATH" "$bin/ansible-test" sanity --color no --python 3.11 "${args[@]}"
