#!/usr/bin/env bash
# `make docker-check`: what can be verified of deploy/Dockerfile on a machine without a Docker
# engine (`docker build` needs one). Needs root (namespaces, setpriv) and tini (scripts/apt-packages.txt).
#
#   1. hadolint on the Dockerfile.
#   2. The builder stage: its base image's Rust version equals rust-toolchain.toml, and its exact
#      cargo command (read from the Dockerfile) runs in a copy of the build context that
#      deploy/Dockerfile.dockerignore leaves, so a missing file or a stale Cargo.lock fails here.
#   3. The runtime stage, emulated with the binary just built: the config the image COPYs, the
#      image's user (USER uid:gid, via setpriv), tini as PID 1 of its own PID namespace (the
#      ENTRYPOINT), its own network namespace (so the EXPOSEd ports cannot clash with anything);
#      the HEALTHCHECK command read from the Dockerfile must pass, /readyz must answer, every
#      listener of the config must be one of the EXPOSEd ports, and SIGTERM sent to PID 1 must
#      drain the gateway and end with exit code 0 within shutdown.grace_ms.
# Not verified here: that the base images exist and that apt-get inside them succeeds.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

say() { printf '==> %s\n' "$*"; }
die() { printf 'check-dockerfile: %s\n' "$*" >&2; exit 1; }

DOCKERFILE=deploy/Dockerfile
VENV=tools/deploy/.venv
[ "$(id -u)" -eq 0 ] || die "needs root (unshare, setpriv)"
command -v tini >/dev/null || die "tini is missing: run make deps (scripts/apt-packages.txt)"
[ -x "$VENV/bin/python" ] || die "tools missing: run scripts/install-deploy-tools.sh (make deps)"

work="$(mktemp -d)"
chmod 755 "$work"
cleanup() {
  if [ -n "${ns_pid:-}" ] && kill -0 "$ns_pid" 2>/dev/null; then kill -KILL "$ns_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- read the Dockerfile ------------------------------------------------------------------------
"$VENV/bin/python" - "$DOCKERFILE" "$work/df.env" <<'PY'
import json, re, shlex, sys
text = open(sys.argv[1]).read()
# join continuation lines, drop comments
lines, cur = [], ""
for raw in text.splitlines():
    s = raw.strip()
    if s.startswith("#") or (not s and not cur):
        continue
    if s.endswith("\\"):
        cur += s[:-1] + " "
        continue
    lines.append(cur + s)
    cur = ""
instr = [(l.split(None, 1)[0].upper(), l.split(None, 1)[1] if " " in l else "") for l in lines]
def all_of(name): return [a for i, a in instr if i == name]
args = dict(a.split("=", 1) for a in all_of("ARG") if "=" in a)
run = next(a for a in all_of("RUN") if "cargo build" in a)
cargo = re.search(r"(cargo build[^&;]*)", run).group(1).strip()
health = all_of("HEALTHCHECK")[0]
cmd = json.loads(health.split("CMD", 1)[1].strip())
entry = json.loads(all_of("ENTRYPOINT")[-1]) + json.loads(all_of("CMD")[-1])
user = all_of("USER")[-1]
copy_conf = next(a for a in all_of("COPY") if a.startswith("deploy/"))
src, dst = copy_conf.split()
expose = " ".join(p for a in all_of("EXPOSE") for p in a.split())
out = {
    "RUST_VERSION": args["RUST_VERSION"], "CARGO_CMD": cargo,
    "HEALTH_CMD": shlex.join(cmd), "ENTRY": shlex.join(entry), "USER_SPEC": user,
    "CONF_SRC": src, "CONF_DST": dst, "EXPOSE": expose,
}
with open(sys.argv[2], "w") as f:
    for k, v in out.items():
        f.write(f"{k}={shlex.quote(v)}\n")
PY
# shellcheck disable=SC1091
. "$work/df.env"

say "hadolint $DOCKERFILE"
"$VENV/bin/hadolint" "$DOCKERFILE"

channel="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)"
[ "$RUST_VERSION" = "$channel" ] || die "ARG RUST_VERSION=$RUST_VERSION but rust-toolchain.toml pins $channel"
case "$CARGO_CMD" in
  "cargo build --release --locked -p switchboard") ;;
  *) die "unexpected builder command: $CARGO_CMD" ;;
esac

# --- builder stage --------------------------------------------------------------------------
say "build context as deploy/Dockerfile.dockerignore leaves it"
"$VENV/bin/python" - "$repo" "$DOCKERFILE.dockerignore" "$work/context" <<'PY'
import fnmatch, os, shutil, sys
repo, ignore_file, dest = sys.argv[1:]
patterns = []
for line in open(ignore_file):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    neg = line.startswith("!")
    pat = line[1:] if neg else line
    patterns.append((neg, os.path.normpath(pat.strip("/"))))

def match(pat, rel):
    # Docker's rules: filepath.Match per component, `**` any number of directories; a pattern
    # that matches a directory excludes everything under it.
    pp, rp = pat.split("/"), rel.split("/")
    def m(i, j):
        if i == len(pp):
            return True  # matched a parent directory of rel, or rel itself
        if pp[i] == "**":
            return any(m(i + 1, k) for k in range(j, len(rp) + 1))
        return j < len(rp) and fnmatch.fnmatchcase(rp[j], pp[i]) and m(i + 1, j + 1)
    return m(0, 0)

def excluded(rel):
    out = False
    for neg, pat in patterns:
        if match(pat, rel):
            out = not neg
    return out

count = 0
for root, dirs, files in os.walk(repo):
    rel_root = os.path.relpath(root, repo)
    keep = []
    for d in dirs:
        rel = os.path.normpath(os.path.join(rel_root, d))
        if not excluded(rel):
            keep.append(d)
    dirs[:] = keep
    for f in files:
        rel = os.path.normpath(os.path.join(rel_root, f))
        if excluded(rel):
            continue
        os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
        shutil.copy2(os.path.join(repo, rel), os.path.join(dest, rel), follow_symlinks=False)
        count += 1
print(f"    {count} files in the context")
PY

target_dir="$(cargo metadata --format-version 1 --no-deps | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
say "builder: $CARGO_CMD (in the context copy; dependencies reused from $target_dir)"
# Word splitting of the command read from the Dockerfile is intended.
# shellcheck disable=SC2086
(cd "$work/context" && CARGO_TARGET_DIR="$target_dir" $CARGO_CMD)
install -D -m 0755 "$target_dir/release/switchboard" "$work/root/usr/local/bin/switchboard"

# --- runtime stage ----------------------------------------------------------------------------
say "runtime: ENTRYPOINT+CMD [$ENTRY] as USER $USER_SPEC, tini as PID 1, own network namespace"
install -D -m 0644 "$CONF_SRC" "$work/root$CONF_DST"
install -d -m 0755 "$work/root/var/lib/switchboard"
chown "${USER_SPEC%%:*}:${USER_SPEC##*:}" "$work/root/var/lib/switchboard"
# The image's paths, rebased onto $work/root (no chroot: the host binary uses the host's libc, the
# same Debian release as the image).
run_cmd="${ENTRY//\/usr\/local\/bin\/switchboard/$work/root/usr/local/bin/switchboard}"
run_cmd="${run_cmd//$CONF_DST/$work/root$CONF_DST}"
uid="${USER_SPEC%%:*}"; gid="${USER_SPEC##*:}"
"$work/root/usr/local/bin/switchboard" print-config --config "$work/root$CONF_DST" > "$work/effective.toml"
read -r grace_ms expected <<<"$("$VENV/bin/python" - "$work/effective.toml" <<'PY'
import sys, tomllib
c = tomllib.load(open(sys.argv[1], "rb"))
addrs = [c["http"]["listen"], c["admin"]["listen"], c["http"].get("redirect_listen")]
if c["mqtt"].get("enabled", True):
    addrs += [c["mqtt"]["listen"], c["mqtt"].get("tls_listen")]
if c["ipc"].get("enabled", True):
    addrs.append(c["ipc"]["listen"])
ports = sorted({int(a.rsplit(":", 1)[1]) for a in addrs if a})
print(c["shutdown"]["grace_ms"], ",".join(map(str, ports)))
PY
)"

cat > "$work/inside.sh" <<EOF
set -euo pipefail
ip link set lo up
cd "$work/root/var/lib/switchboard"
# PID namespace: the first process (tini) is PID 1, as in the container.
unshare --pid --fork --mount-proc -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin setpriv --reuid=$uid --regid=$gid --clear-groups --inh-caps=-all -- \
  $run_cmd >"$work/gateway.log" 2>&1 &
ns=\$!
for _ in \$(seq 1 100); do
  pid1="\$(cat /proc/\$ns/task/\$ns/children 2>/dev/null | awk '{print \$1}')"
  [ -n "\$pid1" ] && break; sleep 0.05
done
[ -n "\$pid1" ] || { echo "tini did not start"; exit 1; }
grep -q "^NSpid:.*[[:space:]]1\$" /proc/\$pid1/status || { echo "tini is not PID 1 of its namespace"; exit 1; }
[ "\$(readlink /proc/\$pid1/exe)" = "\$(readlink -f /usr/bin/tini)" ] || { echo "PID 1 is not tini"; exit 1; }
ok=""
for _ in \$(seq 1 100); do
  if $HEALTH_CMD 2>/dev/null; then ok=1; break; fi
  sleep 0.1
done
[ -n "\$ok" ] || { echo "HEALTHCHECK [$HEALTH_CMD] never passed"; cat "$work/gateway.log"; exit 1; }
echo "    HEALTHCHECK passes: $HEALTH_CMD"
${HEALTH_CMD/healthz/readyz} || { echo "/readyz does not answer 200"; exit 1; }
echo "    /readyz answers 200"
gw="\$(cat /proc/\$pid1/task/\$pid1/children | awk '{print \$1}')"
[ "\$(awk '/^Uid:/{print \$2}' /proc/\$gw/status)" = "$uid" ] || { echo "gateway does not run as uid $uid"; exit 1; }
echo "    gateway runs as uid $uid under tini (PID 1)"
listening="\$(ss -Hltn | awk '{n=split(\$4,a,":"); print a[n]}' | sort -un | tr '\n' ' ')"
echo "    listening: \$listening (EXPOSE $EXPOSE)"
for p in \$listening; do
  case " $EXPOSE " in *" \$p "*) ;; *) echo "port \$p is not EXPOSEd"; exit 1;; esac
done
[ "\$(echo \$listening | tr ' ' ',')" = "$expected" ] || { echo "listening on \$listening, but the config asks for $expected"; exit 1; }
start=\$(date +%s%N)
kill -TERM "\$pid1"
set +e; wait "\$ns"; rc=\$?; set -e
ms=\$(( (\$(date +%s%N) - start) / 1000000 ))
echo "    SIGTERM to PID 1: exit code \$rc after \$ms ms (shutdown.grace_ms = $grace_ms)"
[ "\$rc" -eq 0 ] || { cat "$work/gateway.log"; exit 1; }
[ "\$ms" -le "$grace_ms" ] || { echo "the drain took longer than shutdown.grace_ms"; exit 1; }
EOF
unshare --net -- bash "$work/inside.sh" &
ns_pid=$!
wait "$ns_pid"
ns_pid=""
say "check-dockerfile: all passed (docker build itself needs a Docker engine, which this machine lacks)"
