#!/usr/bin/env bash
# `make helm-check`: the Helm chart and the deploy/ files, checked without a cluster or a Docker engine.
#
#   1. helm lint --strict, with the default values and with every optional feature on
#      (helm/switchboard/ci/*.yaml); values.schema.json must reject bad values.
#   2. helm template with each values set, for each pinned Kubernetes version; every rendered
#      manifest validated against that version's schemas (kubernetes-validate --strict), and the
#      chart's own promises asserted (scripts/helm_check.py): ports, probes, security, drain time,
#      ServiceMonitor wiring, checksum roll, and `switchboard check-config` on the rendered TOML.
#   3. The chart README's value table is up to date (scripts/helm-values-doc.py --check).
#   4. deploy/docker-compose.yml against the Compose specification, deploy/*.yml with yamllint,
#      deploy/Dockerfile with hadolint, the deploy scripts with shellcheck.
#
# Tools come from scripts/install-deploy-tools.sh (run by `make deps`). The switchboard binary is
# built with cargo unless SWITCHBOARD_BIN names one.
set -euo pipefail
cd "$(dirname "$0")/.."

# Kubernetes versions the chart is rendered and validated for: the oldest it supports (Chart.yaml
# kubeVersion) and a current one. kubernetes-validate ships these schemas itself.
KUBE_VERSIONS=(1.27.0 1.33.0)

TOOLS=tools/deploy
HELM="$TOOLS/bin/helm"
VENV="$TOOLS/.venv"
CHART=helm/switchboard
if [ ! -x "$HELM" ] || [ ! -x "$VENV/bin/kubernetes-validate" ]; then
  echo "helm-check: tools missing; run scripts/install-deploy-tools.sh (make deps)" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

say() { printf '==> %s\n' "$*"; }

if [ -z "${SWITCHBOARD_BIN:-}" ]; then
  say "cargo build -p switchboard"
  cargo build -q -p switchboard
  target_dir="$(cargo metadata --format-version 1 --no-deps | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
  SWITCHBOARD_BIN="$target_dir/debug/switchboard"
fi
export SWITCHBOARD_BIN

# helm keeps no state between runs and reads no user config (set after cargo, which needs HOME).
export HOME="$work/home"
mkdir -p "$HOME"

say "helm lint --strict ($("$HELM" version --short))"
"$HELM" lint --strict "$CHART" >"$work/lint.log" || { cat "$work/lint.log"; exit 1; }
for values in "$CHART"/ci/*.yaml; do
  "$HELM" lint --strict "$CHART" -f "$values" >"$work/lint.log" || { cat "$work/lint.log"; exit 1; }
done

say "chart assertions, kubernetes-validate --strict for Kubernetes ${KUBE_VERSIONS[*]}, check-config on the rendered TOML"
"$VENV/bin/python" scripts/helm_check.py --helm "$HELM" --chart "$CHART" --work "$work" \
  --kube-versions "${KUBE_VERSIONS[@]}"

say "chart README value table"
"$VENV/bin/python" scripts/helm-values-doc.py --check "$CHART"

say "deploy/: compose specification, yamllint, hadolint, shellcheck"
"$VENV/bin/check-jsonschema" -q --builtin-schema vendor.compose-spec deploy/docker-compose.yml
"$VENV/bin/yamllint" -s -c scripts/yamllint.yml deploy/docker-compose.yml deploy/prometheus.yml \
  deploy/grafana "$CHART/values.yaml" "$CHART/ci" "$CHART/Chart.yaml"
"$VENV/bin/hadolint" deploy/Dockerfile
"$VENV/bin/shellcheck" scripts/helm-check.sh scripts/check-dockerfile.sh scripts/install-deploy-tools.sh

say "helm-check: all passed"
