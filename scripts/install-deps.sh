#!/usr/bin/env bash
# Installs everything the test suites need on a fresh Debian machine, and nothing that is already
# there: Debian packages (scripts/apt-packages.txt), npm modules (every package-lock.json under
# tests/ and protocols/, with `npm ci`), Python modules (tests/interop/requirements.txt into a venv).
# Safe to run again; prints what it does.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------------------------
if [ -f scripts/apt-packages.txt ]; then
  missing=()
  while read -r pkg; do
    pkg="${pkg%%#*}"; pkg="$(echo "$pkg" | xargs)"
    [ -z "$pkg" ] && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done < scripts/apt-packages.txt
  if [ "${#missing[@]}" -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "Debian packages: all present"
  fi
fi

# --- npm modules -----------------------------------------------------------------------------
while IFS= read -r lock; do
  dir="$(dirname "$lock")"
  stamp="$dir/node_modules/.switchboard-lock.sha"
  sum="$(sha256sum "$lock" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
    say "npm modules in $dir: up to date"
  else
    say "npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$sum" > "$stamp"
  fi
done < <(find tests protocols -name package-lock.json -not -path '*/node_modules/*' | sort)

# --- Python modules --------------------------------------------------------------------------
if [ -f tests/interop/requirements.txt ]; then
  venv=tests/interop/.venv
  stamp="$venv/.switchboard-req.sha"
  sum="$(sha256sum tests/interop/requirements.txt | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
    say "Python modules: up to date"
  else
    say "pip install -r tests/interop/requirements.txt (into $venv)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r tests/interop/requirements.txt
    echo "$sum" > "$stamp"
  fi
fi

# --- Deploy tools (helm, kubernetes-validate, linters) for `make helm-check` -------------------
./scripts/install-deploy-tools.sh

# --- Rust test runner ------------------------------------------------------------------------
if ! cargo nextest --version >/dev/null 2>&1; then
  say "cargo install cargo-nextest --locked"
  cargo install cargo-nextest --locked
fi
say "dependencies ready"
