#!/usr/bin/env python3
"""Renders the switchboard Helm chart and checks what it promises (run by scripts/helm-check.sh).

For the default values and every helm/switchboard/ci/*.yaml, and for each Kubernetes version given:
  - every rendered manifest passes `kubernetes-validate --strict` for that version; the
    ServiceMonitor (a CRD the validator does not know) is checked against the fields the chart
    emits, written from the Prometheus Operator's API reference;
  - the chart's wiring: container ports follow the rendered config's listen addresses, Services
    and the Ingress target named ports that exist, the admin port is on the internal Service only,
    probes hit /healthz and /readyz on it, the pods run non-root with a read-only root filesystem
    and no capabilities, terminationGracePeriodSeconds exceeds preStop + shutdown.grace_ms, every
    file the config names is mounted from the right Secret key, the ServiceMonitor, HPA and PDB
    select what they should, the StatefulSet's volume is where storage.path points;
  - the rendered switchboard.toml parses as TOML with no floats and passes the real
    `switchboard check-config` (with the pod's environment, and dummy files where the Secrets
    would be mounted); no error is tolerated (cluster.nats_url and storage.path must pass too).
Then, once: the checksum annotation changes with the config and only with it, a null value drops
its key, bad values are refused (schema and template guards), and the schema's config sections
are exactly the gateway's (`switchboard print-config`).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import yaml

FILE_KEYS = {"tls_cert", "tls_key", "cert", "key", "client_ca", "password_file", "acl_file",
             "public_key_file"}
# Keys the gateway refuses as "not available in this build yet" (none any more: clustering and
# storage are built; kept so a future option can be prepared the same way).
NOT_YET: dict[str, str] = {}

# An RSA public key (of a key pair nobody kept) for the JWT key file check-config parses.
PLACEHOLDER_RSA_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAzLorKyJ/WwQe2gHXVwOz
MdHZnd/pBU7712I5GdY5TucvX9RLnql1iXarWIMCB3i7b5gggx3BYXzVyOavj4h+
8FLWN+uCvfpBjqw1PkQi32YGV7k047tTkyuNV01JI0f4SOUR7V23VhTNRdLUqo/B
+2NOb5UexNljlqxE02eP8X8BSy9e3wYm0JJFp+FQSb6eaDaz6/Qew5zByWkZ+rvv
SYwTRguq56adwlxXamXlNJz+0ozZeB9/hOZB7AMs1Gr3HdTG80O27w5mZA1Sk4lZ
4DBblQAbuYgda3a1Qkl53cy2ORRspB6S2z25fMRvFjM3WfUc1xFMCDXRkfAlX6aG
gQIDAQAB
-----END PUBLIC KEY-----
"""

failures: list[str] = []


def fail(case: str, msg: str) -> None:
    failures.append(f"[{case}] {msg}")


def check(case: str, cond: bool, msg: str) -> None:
    if not cond:
        fail(case, msg)


# --- ServiceMonitor: the fields the chart emits (monitoring.coreos.com/v1 API reference) ------
DURATION = r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
RELABEL = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "sourceLabels": {"type": "array", "items": {"type": "string"}},
        "separator": {"type": "string"},
        "targetLabel": {"type": "string"},
        "regex": {"type": "string"},
        "modulus": {"type": "integer"},
        "replacement": {"type": "string"},
        "action": {"type": "string", "enum": [
            "replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep",
            "lowercase", "uppercase", "keepequal", "dropequal",
            "Replace", "Keep", "Drop", "HashMod", "LabelMap", "LabelDrop", "LabelKeep",
            "Lowercase", "Uppercase", "KeepEqual", "DropEqual"]},
    },
}
LABEL_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
        "matchExpressions": {"type": "array"},
    },
}
SERVICE_MONITOR = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": LABEL_SELECTOR,
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"any": {"type": "boolean"},
                                   "matchNames": {"type": "array", "items": {"type": "string"}}},
                },
                "endpoints": {"type": "array", "minItems": 1, "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "port": {"type": "string"},
                        "path": {"type": "string"},
                        "scheme": {"enum": ["http", "https"]},
                        "interval": {"type": "string", "pattern": DURATION},
                        "scrapeTimeout": {"type": "string", "pattern": DURATION},
                        "relabelings": {"type": "array", "items": RELABEL},
                        "metricRelabelings": {"type": "array", "items": RELABEL},
                    },
                }},
            },
        },
    },
}


# --- rendering --------------------------------------------------------------------------------
class Helm:
    def __init__(self, helm: str, chart: str):
        self.helm = helm
        self.chart = chart

    def template(self, values: list[str], sets: list[str], kube: str) -> subprocess.CompletedProcess:
        cmd = [self.helm, "template", "sb", self.chart, "--namespace", "realtime",
               "--kube-version", kube, "--api-versions", "monitoring.coreos.com/v1"]
        for v in values:
            cmd += ["-f", v]
        for s in sets:
            cmd += ["--set", s]
        return subprocess.run(cmd, capture_output=True, text=True)

    def docs(self, values: list[str], sets: list[str], kube: str) -> tuple[str, list[dict]]:
        r = self.template(values, sets, kube)
        if r.returncode != 0:
            raise SystemExit(f"helm template {values} {sets} failed:\n{r.stderr}")
        return r.stdout, [d for d in yaml.safe_load_all(r.stdout) if d]


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


# --- the config the pod would read --------------------------------------------------------------
def config_files(cfg: dict, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out += config_files(v, key + ".")
        elif k in FILE_KEYS and isinstance(v, str):
            out.append((key, v))
    return out


def no_floats(case: str, v, path: str = "") -> None:
    if isinstance(v, float):
        fail(case, f"switchboard.toml: `{path}` is the float {v}; the gateway's keys are integers")
    elif isinstance(v, dict):
        for k, x in v.items():
            no_floats(case, x, f"{path}.{k}" if path else k)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            no_floats(case, x, f"{path}[{i}]")


def check_config(case: str, toml_text: str, container: dict, work: Path, enabled_future: set[str]) -> None:
    """Runs the real `switchboard check-config` on the rendered TOML, as the pod would."""
    root = work / f"fsroot-{re.sub(r'[^a-z0-9]+', '-', case)}"
    cfg = tomllib.loads(toml_text)
    text = toml_text
    for key, path in config_files(cfg):
        if not path.startswith("/"):
            continue
        dummy = root / path.lstrip("/")
        dummy.parent.mkdir(parents=True, exist_ok=True)
        # The auth files are parsed by check-config: give them valid placeholder content.
        if key.endswith("password_file"):
            dummy.unlink(missing_ok=True)
            subprocess.run([os.environ["SWITCHBOARD_BIN"], "passwd", "-c", "-b", str(dummy),
                            "placeholder", "placeholder"], check=True, capture_output=True)
        elif key.endswith("public_key_file"):
            dummy.write_text(PLACEHOLDER_RSA_PUBLIC_KEY)
        elif key.endswith("acl_file"):
            dummy.write_text("# placeholder for a file mounted from a Secret\ntopic read #\n")
        else:
            dummy.write_text("placeholder for a file mounted from a Secret\n")
        text = text.replace(json.dumps(path), json.dumps(str(dummy)))
    conf = root / "switchboard.toml"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(text)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for e in container.get("env") or []:
        if e["name"].startswith("SWITCHBOARD_"):
            env[e["name"]] = e.get("value", "from-a-secret-or-field")
    r = subprocess.run([os.environ["SWITCHBOARD_BIN"], "check-config", "--config", str(conf)],
                       capture_output=True, text=True, env=env)
    if r.returncode == 0:
        return
    problems = [l.strip()[2:] for l in r.stderr.splitlines() if l.strip().startswith("- ")]
    unexpected = []
    for p in problems:
        known = [k for k, msg in NOT_YET.items() if f"`{k}`" in p and msg in p and k in enabled_future]
        if not known:
            unexpected.append(p)
    if r.returncode != 64 or unexpected or not problems:
        fail(case, f"switchboard check-config rejects the rendered config (exit {r.returncode}):\n"
                   f"{r.stderr}{r.stdout}")
    else:
        print(f"    [{case}] check-config: only the documented future keys are refused "
              f"({', '.join(sorted(enabled_future))}); everything else is valid")


# --- per render -----------------------------------------------------------------------------
def check_render(case: str, docs: list[dict], work: Path) -> str:
    kinds = {d["kind"] for d in docs}
    for d in docs:
        labels = d["metadata"].get("labels") or {}
        check(case, labels.get("app.kubernetes.io/name") == "switchboard"
              and labels.get("app.kubernetes.io/managed-by") == "Helm",
              f"{d['kind']}/{d['metadata']['name']}: standard labels missing")
    workloads = by_kind(docs, "Deployment") + by_kind(docs, "StatefulSet")
    check(case, len(workloads) == 1, f"exactly one Deployment or StatefulSet, got {len(workloads)}")
    wl = workloads[0]
    pod = wl["spec"]["template"]
    pod_labels = pod["metadata"]["labels"]
    check(case, selects(wl["spec"]["selector"], pod_labels), "workload selector does not match its pods")
    spec = pod["spec"]
    c = next(x for x in spec["containers"] if x["name"] == "switchboard")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}

    # config
    cms = by_kind(docs, "ConfigMap")
    check(case, len(cms) == 1, "one ConfigMap")
    toml_text = cms[0]["data"]["switchboard.toml"]
    try:
        cfg = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError as e:
        fail(case, f"switchboard.toml is not TOML: {e}\n{toml_text}")
        return toml_text
    no_floats(case, cfg)
    check(case, c["args"] == ["--config", "/etc/switchboard/switchboard.toml"], f"args {c['args']}")
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    check(case, mounts.get("/etc/switchboard/switchboard.toml", {}).get("subPath") == "switchboard.toml",
          "the ConfigMap is mounted at /etc/switchboard/switchboard.toml")
    mqtt_on = cfg.get("mqtt", {}).get("enabled", True)
    ipc_on = cfg.get("ipc", {}).get("enabled", True)
    listen = {
        "http": cfg["http"]["listen"], "admin": cfg["admin"]["listen"],
        "mqtt": cfg.get("mqtt", {}).get("listen") if mqtt_on else None,
        "mqtts": cfg.get("mqtt", {}).get("tls_listen") if mqtt_on else None,
        "ipc": cfg.get("ipc", {}).get("listen") if ipc_on else None,
    }
    for name, addr in listen.items():
        if addr is None:
            check(case, name not in ports, f"container port {name} without a listener")
            continue
        check(case, ports.get(name) == int(addr.rsplit(":", 1)[1]),
              f"container port {name}={ports.get(name)} but the config listens on {addr}")
        check(case, not addr.startswith("127."), f"{name} listens on loopback {addr}")

    # probes on the admin port
    for probe, path in [("startupProbe", "/healthz"), ("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")]:
        p = c.get(probe)
        check(case, p is not None and p["httpGet"] == {"path": path, "port": "admin"},
              f"{probe} must GET {path} on the admin port: {p}")

    # security
    psc, sc = spec.get("securityContext", {}), c.get("securityContext", {})
    check(case, psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0, "pod must run non-root")
    check(case, sc.get("readOnlyRootFilesystem") is True, "read-only root filesystem")
    check(case, sc.get("allowPrivilegeEscalation") is False, "no privilege escalation")
    check(case, sc.get("capabilities", {}).get("drop") == ["ALL"], "drop ALL capabilities")
    check(case, spec.get("automountServiceAccountToken") is False, "no API token in the pod")

    # drain time
    grace_ms = cfg.get("shutdown", {}).get("grace_ms", 10000)
    pre_stop = 0
    hook = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
    if hook:
        check(case, hook[0] == "sleep", f"preStop {hook}")
        pre_stop = int(hook[1])
    tgps = spec["terminationGracePeriodSeconds"]
    check(case, tgps > pre_stop + grace_ms / 1000,
          f"terminationGracePeriodSeconds {tgps} must exceed preStop {pre_stop}s + grace {grace_ms}ms")

    # files named by the config are mounted from the Secret keys
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for key, path in config_files(cfg):
        parent, fname = path.rsplit("/", 1)
        m = mounts.get(parent)
        ok = False
        if m is not None:
            secret = volumes.get(m["name"], {}).get("secret")
            ok = bool(secret) and any(i["path"] == fname for i in secret.get("items", []))
        check(case, ok, f"config `{key}` = {path} is not backed by a mounted Secret item")
    for e in c.get("env") or []:
        ref = (e.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            check(case, ref.get("name") and ref.get("key"), f"env {e['name']}: incomplete secretKeyRef")

    # Services: the public one never carries the admin port; the admin one is ClusterIP
    services = {s["metadata"]["name"]: s for s in by_kind(docs, "Service")}
    admin_svcs = [s for s in services.values() if s["metadata"]["labels"].get("app.kubernetes.io/component") == "admin"]
    check(case, len(admin_svcs) == 1, "one admin Service")
    admin_svc = admin_svcs[0]
    check(case, admin_svc["spec"]["type"] == "ClusterIP", "admin Service must be ClusterIP")
    check(case, [p["targetPort"] for p in admin_svc["spec"]["ports"]] == ["admin"], "admin Service carries the admin port only")
    public = [s for s in services.values() if s is not admin_svc and s["spec"].get("clusterIP") != "None"]
    check(case, len(public) == 1, "one public Service")
    for s in services.values():
        check(case, selects({"matchLabels": s["spec"]["selector"]}, pod_labels), f"Service {s['metadata']['name']} selects no pod")
        for p in s["spec"]["ports"]:
            check(case, p["targetPort"] in ports, f"Service {s['metadata']['name']} targets missing port {p['targetPort']}")
            if s is not admin_svc:
                check(case, p["targetPort"] != "admin", f"Service {s['metadata']['name']} exposes the admin port")
    public_svc = public[0]
    for ing in by_kind(docs, "Ingress"):
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                b = p["backend"]["service"]
                check(case, b["name"] == public_svc["metadata"]["name"] and b["port"] == {"name": "http"},
                      f"Ingress backend {b} must be the public Service's http port")

    # ServiceMonitor -> admin Service only
    for sm in by_kind(docs, "ServiceMonitor"):
        try:
            jsonschema.validate(sm, SERVICE_MONITOR)
        except jsonschema.ValidationError as e:
            fail(case, f"ServiceMonitor: {e.message} at {list(e.absolute_path)}")
        sel = sm["spec"]["selector"]
        check(case, selects(sel, admin_svc["metadata"]["labels"]), "ServiceMonitor does not select the admin Service")
        check(case, not selects(sel, public_svc["metadata"]["labels"]), "ServiceMonitor also selects the public Service")
        check(case, sm["spec"]["namespaceSelector"]["matchNames"] == [admin_svc["metadata"]["namespace"]],
              "ServiceMonitor looks in the release namespace")
        for ep in sm["spec"]["endpoints"]:
            check(case, ep["port"] in [p["name"] for p in admin_svc["spec"]["ports"]] and ep["path"] == "/metrics",
                  f"ServiceMonitor endpoint {ep}")

    for hpa in by_kind(docs, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        check(case, ref["kind"] == wl["kind"] and ref["name"] == wl["metadata"]["name"], f"HPA targets {ref}")
        check(case, "replicas" not in wl["spec"], "replicas must be left to the HPA")
    for pdb in by_kind(docs, "PodDisruptionBudget"):
        check(case, selects(pdb["spec"]["selector"], pod_labels), "PDB selects no pod")

    if wl["kind"] == "StatefulSet":
        headless = services.get(wl["spec"]["serviceName"])
        check(case, headless is not None and headless["spec"].get("clusterIP") == "None",
              "StatefulSet needs its headless governing Service")
        claims = [t["metadata"]["name"] for t in wl["spec"].get("volumeClaimTemplates", [])]
        data = mounts.get(cfg.get("storage", {}).get("path", "-"))
        check(case, data is not None and data["name"] in claims, "storage.path is not on the claimed volume")
    else:
        check(case, "storage" not in cfg or "path" not in cfg["storage"], "storage.path without a volume")

    for tsc in spec.get("topologySpreadConstraints", []):
        check(case, tsc.get("labelSelector") is not None, "topologySpreadConstraint without labelSelector")
    return toml_text


def kubernetes_validate(case: str, docs: list[dict], kube: str, work: Path, venv_bin: Path) -> None:
    core = [d for d in docs if not d["apiVersion"].startswith("monitoring.coreos.com/")]
    f = work / f"validate-{re.sub(r'[^a-z0-9.]+', '-', case)}.yaml"
    f.write_text(yaml.safe_dump_all(core, sort_keys=False))
    r = subprocess.run([str(venv_bin / "kubernetes-validate"), "--strict", "--quiet", "-k", kube, str(f)],
                       capture_output=True, text=True)
    if r.returncode != 0 or "ERROR" in r.stdout or "WARN" in r.stdout:
        fail(case, f"kubernetes-validate -k {kube} --strict:\n{r.stdout}{r.stderr}")


# --- once ---------------------------------------------------------------------------------------
def checksum_rolls(helm: Helm, kube: str) -> None:
    case = "checksum"

    def annotation(sets):
        _, docs = helm.docs([], sets, kube)
        wl = (by_kind(docs, "Deployment") + by_kind(docs, "StatefulSet"))[0]
        return wl["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    base = annotation([])
    check(case, base != annotation(["config.fabric.queue_capacity=4096"]), "a config change must change checksum/config")
    check(case, base == annotation(["podAnnotations.a=b", "replicaCount=2"]), "checksum/config must only follow the config")


def null_drops_key(helm: Helm, kube: str) -> None:
    _, docs = helm.docs([], ["config.telemetry.log_format=null"], kube)
    cfg = tomllib.loads(by_kind(docs, "ConfigMap")[0]["data"]["switchboard.toml"])
    check("null", "log_format" not in cfg.get("telemetry", {}), "a null value must leave its key out")


def refuses_bad_values(helm: Helm, kube: str) -> None:
    cases = [
        (["replicaCount=two"], "Invalid type"),
        (["replicas=3"], "Additional property replicas is not allowed"),
        (["config.htpp.listen=0.0.0.0:80"], "Additional property htpp is not allowed"),
        (["service.type=Ingress"], "service.type"),
        (["config.http.listen=127.0.0.1:8080"], "binds loopback"),
        (["config.admin.listen=null"], "admin"),
        (["tls.mqtt.enabled=true"], "need tls.existingSecret"),
        (["auth.passwordFile.enabled=true"], "need auth.existingSecret"),
        (["autoscaling.enabled=true", "autoscaling.targetCPUUtilizationPercentage=null"], "needs a target"),
    ]
    for sets, expect in cases:
        r = helm.template([], sets, kube)
        check("refuse", r.returncode != 0 and expect in r.stderr,
              f"--set {' '.join(sets)} must fail with '{expect}', got exit {r.returncode}: {r.stderr.strip()[:300]}")


def notes(helm: Helm, work: Path, kube: str) -> None:
    """NOTES.txt is not rendered by `helm template`: render it through a copy of the chart that
    wraps it in a ConfigMap, and check what it tells the operator."""
    copy = work / "notes-chart"
    shutil.copytree(helm.chart, copy)
    body = (copy / "templates" / "NOTES.txt").read_text()
    (copy / "templates" / "zz-notes-preview.yaml").write_text(
        '{{- define "notes.preview" }}' + body + '{{ end -}}\n'
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
        'data:\n  notes: {{ include "notes.preview" . | toJson }}\n')
    preview = Helm(helm.helm, str(copy))
    cases = [
        ([], [], ["HTTP front", ":8080", "admin (in-cluster only", "no client can log in", "get 30 s to stop"],
         ["WARNING"]),
        ([], ["replicaCount=2"], ["WARNING: more than one replica without clustering"], []),
        ([str(Path(helm.chart, "ci", "all-features-values.yaml"))], [],
         ["MQTT over TLS", "IPC bus", "https://rt.example.com/", "Durable storage:",
          "Clustering: the pods share one topic space"],
         ["no client can log in", "more than one replica", "WARNING"]),
    ]
    for values, sets, present, absent in cases:
        _, docs = preview.docs(values, sets, kube)
        text = next(d for d in docs if d["metadata"]["name"] == "notes")["data"]["notes"]
        for p in present:
            check("notes", p in text, f"NOTES.txt with {values or 'defaults'} {sets} lacks '{p}':\n{text}")
        for a in absent:
            check("notes", a not in text, f"NOTES.txt with {values or 'defaults'} {sets} says '{a}':\n{text}")


def schema_sections_match_gateway(chart: str) -> None:
    schema = json.loads(Path(chart, "values.schema.json").read_text())
    sections = set(schema["properties"]["config"]["properties"])
    r = subprocess.run([os.environ["SWITCHBOARD_BIN"], "print-config"], capture_output=True, text=True,
                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    check("drift", r.returncode == 0, f"print-config failed: {r.stderr}")
    gateway = set(tomllib.loads(r.stdout)) if r.returncode == 0 else set()
    check("drift", sections == gateway,
          f"values.schema.json config sections {sorted(sections)} != the gateway's {sorted(gateway)}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--helm", required=True)
    ap.add_argument("--chart", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--kube-versions", nargs="+", required=True)
    args = ap.parse_args()
    work = Path(args.work)
    venv_bin = Path(sys.executable).parent
    helm = Helm(args.helm, args.chart)
    value_sets = [("defaults", [])] + [
        (Path(f).stem, [f]) for f in sorted(glob.glob(os.path.join(args.chart, "ci", "*.yaml")))]
    count = 0
    for name, files in value_sets:
        values = {}
        for f in files:
            values.update(yaml.safe_load(Path(f).read_text()) or {})
        future = set()
        if (values.get("persistence") or {}).get("enabled"):
            future.add("storage.path")
        for kube in args.kube_versions:
            case = f"{name}@{kube}"
            _, docs = helm.docs(files, [], kube)
            count += len(docs)
            kubernetes_validate(case, docs, kube, work, venv_bin)
            toml_text = check_render(case, docs, work)
            wl = (by_kind(docs, "Deployment") + by_kind(docs, "StatefulSet"))[0]
            container = next(x for x in wl["spec"]["template"]["spec"]["containers"] if x["name"] == "switchboard")
            if kube == args.kube_versions[-1]:
                check_config(name, toml_text, container, work, future)
        print(f"    {name}: {', '.join(sorted({d['kind'] for d in docs}))}")
    kube = args.kube_versions[-1]
    checksum_rolls(helm, kube)
    null_drops_key(helm, kube)
    refuses_bad_values(helm, kube)
    notes(helm, work, kube)
    schema_sections_match_gateway(args.chart)
    if failures:
        print("helm-check FAILED:", file=sys.stderr)
        for f in failures:
            print("  - " + f, file=sys.stderr)
        return 1
    print(f"    {count} manifests rendered and validated for Kubernetes {', '.join(args.kube_versions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
