#!/usr/bin/env bash
# Install the Debian packages the tests and the demo need, when a command is missing.
# Usage: install_system_deps.sh [bench]   (bench adds restic and borgbackup)
set -euo pipefail

declare -A package_of=([qemu-img]=qemu-utils)
if [[ "${1:-}" == bench ]]; then
  package_of+=([restic]=restic [borg]=borgbackup)
fi

missing=()
for command in "${!package_of[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${package_of[$command]}")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing: ${missing[*]} (install them with your package manager; see bindep.txt)" >&2
  exit 1
fi
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
echo "installing system packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
