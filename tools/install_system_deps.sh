#!/usr/bin/env bash
# Install the missing system packages of bindep.txt profiles, with apt-get (Debian, Ubuntu).
# Usage: install_system_deps.sh [--list] [PROFILE ...]
#   test   (the default) what `make test` and `make demo` need: qemu-img, git, chromium, samba, cifs-utils
#   bench  what `make bench` needs: qemu-img, restic, borgbackup
#   --list print the profiles' packages for this platform and install nothing
# bindep.txt is the one list; bindep (requirements-dev.txt) reads it and asks dpkg what is missing.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bindep="${BINDEP:-$repo/.venv/bin/bindep}"
if [[ ! -x "$bindep" ]]; then
  echo "$bindep not found: run \`make venv\` first (it installs requirements-dev.txt)" >&2
  exit 1
fi

list=false
if [[ "${1:-}" == --list ]]; then
  list=true
  shift
fi
profiles=("$@")
[[ ${#profiles[@]} -gt 0 ]] || profiles=(test)

if $list; then
  exec "$bindep" -l newline -f "$repo/bindep.txt" "${profiles[@]}"
fi

# -b prints only the missing packages and exits 1 when there are some; any other failure is bindep's.
status=0
missing=$("$bindep" -b -f "$repo/bindep.txt" "${profiles[@]}") || status=$?
[[ $status -le 1 ]] || exit "$status"
[[ -n "$missing" ]] || exit 0
mapfile -t packages <<<"$missing"

if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing: ${packages[*]} (install them with your package manager; see bindep.txt)" >&2
  exit 1
fi
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
install() {
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
}
echo "installing system packages (${profiles[*]}): ${packages[*]}"
# Install from the package lists there are; fetch them once when there are none (a fresh image)
# or when they are too old for the install to succeed.
if compgen -G "/var/lib/apt/lists/*_Packages*" >/dev/null && install; then
  exit 0
fi
$sudo apt-get update -qq
install
