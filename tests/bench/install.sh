#!/usr/bin/env bash
# Installs what the benchmark suite needs and nothing that is already there: the Debian
# packages in tests/bench/apt-packages.txt and the Node peers of tests/bench/node (npm ci).
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { printf '==> %s\n' "$*"; }

missing=()
while read -r line; do
  pkg="${line%%#*}"; pkg="$(echo "$pkg" | xargs)"
  [ -z "$pkg" ] && continue
  # A tool that is already on the PATH (e.g. node from another source) counts as present.
  case "$pkg" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
    nginx-light) command -v nginx >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < tests/bench/apt-packages.txt
if [ "${#missing[@]}" -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "bench Debian packages: all present"
fi

dir=tests/bench/node
stamp="$dir/node_modules/.switchboard-lock.sha"
sum="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
  say "bench Node peers: up to date"
else
  say "npm ci in $dir"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$sum" > "$stamp"
fi
