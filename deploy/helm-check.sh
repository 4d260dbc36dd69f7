#!/usr/bin/env bash
# deploy/helm-check.sh - lint, render and validate the Helm chart, offline apart from the registries.
#
#   deploy/helm-check.sh            (CI: `make helm-check`)
#
# 1. tools, pinned, built from the Go module proxy when missing (cached in $TOOLS_BIN):
#      helm        helm.sh/helm/v3@$HELM_VERSION (with the release build's -ldflags, so its
#                  default Kubernetes version and `helm version` are the real ones)
#      kubeconform github.com/yannh/kubeconform@$KUBECONFORM_VERSION
#      helm-unittest github.com/helm-unittest/helm-unittest@$HELM_UNITTEST_VERSION (go build)
# 2. Kubernetes JSON schemas for offline validation: the PyPI package kubernetes-validate ships
#    them for Kubernetes 1.25-1.37; its wheel is fetched with pip, and the strict schemas of
#    $KUBE_VERSIONS are unpacked into $SCHEMA_CACHE, made file-local (`$id` dropped, `$ref`s to
#    `/api/_definitions.json` made relative) so that kubeconform never reaches for the network.
# 3. for each scenario (default values, helm/values-production.yaml, every optional template
#    on): `helm lint --strict` with no notice (not even INFO), then for each Kubernetes version
#    `helm template` and `kubeconform -strict`; CRD kinds (ServiceMonitor, ScaledObject,
#    TriggerAuthentication) are skipped, having no schema here.
# 4. values the chart must refuse (schema violations and the template's `fail` guards) must
#    make `helm template` fail.
# 5. the chart's unit tests (helm/call-control/tests/*_test.yaml) with helm-unittest: every
#    refusal and the happy paths of the workload, its state and the NetworkPolicy.
# Exits non-zero on any failure.
#
# Env: HELM_VERSION (v3.22.0), KUBECONFORM_VERSION (v0.8.0), HELM_UNITTEST_VERSION (v1.1.2),
#      KUBERNETES_VALIDATE_VERSION (1.37.0),
#      KUBE_VERSIONS ("1.25.0 1.37.0": the chart's oldest supported and the newest schemas),
#      TOOLS_BIN ($(go env GOPATH)/bin), SCHEMA_CACHE (~/.cache/call-control/k8s-json-schema).
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
CHART="$REPO_ROOT/helm/call-control"
PROD_VALUES="$REPO_ROOT/helm/values-production.yaml"

HELM_VERSION=${HELM_VERSION:-v3.22.0}
KUBECONFORM_VERSION=${KUBECONFORM_VERSION:-v0.8.0}
HELM_UNITTEST_VERSION=${HELM_UNITTEST_VERSION:-v1.1.2}
KUBERNETES_VALIDATE_VERSION=${KUBERNETES_VALIDATE_VERSION:-1.37.0}
KUBE_VERSIONS=${KUBE_VERSIONS:-1.25.0 1.37.0}
SKIP_KINDS=ServiceMonitor,ScaledObject,TriggerAuthentication,PrometheusRule

log() { printf 'helm-check: %s\n' "$*"; }
err() { printf 'helm-check: FAIL: %s\n' "$*" >&2; }
t0=$SECONDS

command -v go >/dev/null 2>&1 || { err "go is needed to build helm and kubeconform"; exit 2; }
TOOLS_BIN=${TOOLS_BIN:-$(go env GOPATH)/bin}
SCHEMA_CACHE=${SCHEMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/call-control/k8s-json-schema}
mkdir -p "$TOOLS_BIN" "$SCHEMA_CACHE"

# ------------------------------------------------------------------ 1. tools
# the module version a Go binary was built from ("" when it is not there)
built_version() { [[ -x $1 ]] && go version -m "$1" 2>/dev/null | awk -v m="$2" '$1=="mod" && $2==m {print $3}'; }

HELM="$TOOLS_BIN/helm"
if [[ $(built_version "$HELM" helm.sh/helm/v3) != "$HELM_VERSION" ]]; then
    log "building helm $HELM_VERSION into $TOOLS_BIN (go install; a few minutes the first time)"
    t=$SECONDS
    # what helm's Makefile passes: its version, and the Kubernetes version of its client-go
    # (v0.N -> 1.N) as the default for --kube-version, instead of the fallback 1.20
    k8s_minor=$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | python3 -c '
import json, re, sys
go_mod = open(json.load(sys.stdin)["GoMod"]).read()
print(re.search(r"k8s.io/client-go v0\.(\d+)\.", go_mod).group(1))')
    GOBIN="$TOOLS_BIN" go install -ldflags "\
        -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
        -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
        -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s_minor \
        -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
        -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s_minor" \
        "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
    log "helm built in $((SECONDS - t)) s"
fi
KUBECONFORM="$TOOLS_BIN/kubeconform"
if [[ $(built_version "$KUBECONFORM" github.com/yannh/kubeconform) != "$KUBECONFORM_VERSION" ]]; then
    log "building kubeconform $KUBECONFORM_VERSION into $TOOLS_BIN (go install)"
    t=$SECONDS
    GOBIN="$TOOLS_BIN" go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
    log "kubeconform built in $((SECONDS - t)) s"
fi
# helm-unittest: `go install ...@version` refuses it (its go.mod has a replace directive), so it
# is built from the module's source as the main module; the file name carries the version.
UNITTEST="$TOOLS_BIN/helm-unittest-$HELM_UNITTEST_VERSION"
if [[ ! -x $UNITTEST ]]; then
    log "building helm-unittest $HELM_UNITTEST_VERSION into $TOOLS_BIN (go build of the module)"
    t=$SECONDS
    src=$(go mod download -json "github.com/helm-unittest/helm-unittest@$HELM_UNITTEST_VERSION" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
    build_dir=$(mktemp -d)
    cp -r "$src/." "$build_dir"
    chmod -R u+w "$build_dir"
    (cd "$build_dir" && go build -trimpath -o "$UNITTEST.tmp" ./cmd/helm-unittest)
    mv "$UNITTEST.tmp" "$UNITTEST"
    rm -rf "$build_dir"
    log "helm-unittest built in $((SECONDS - t)) s"
fi
log "helm $("$HELM" version --template '{{.Version}}'), kubeconform $KUBECONFORM_VERSION, helm-unittest $HELM_UNITTEST_VERSION"

# ------------------------------------------------------------------ 2. schemas
schema_root="$SCHEMA_CACHE/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
missing=()
for v in $KUBE_VERSIONS; do
    [[ -f $schema_root/v$v-local-strict/.complete ]] || missing+=("$v")
done
if ((${#missing[@]})); then
    log "fetching kubernetes-validate==$KUBERNETES_VALIDATE_VERSION (PyPI) for the schemas of ${missing[*]}"
    wheel_dir=$(mktemp -d)
    trap 'rm -rf "$wheel_dir"' EXIT
    python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$wheel_dir" \
        "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
    python3 - "$wheel_dir" "$schema_root" "${missing[@]}" <<'EOF'
import glob, json, os, sys, zipfile
wheel_dir, root, versions = sys.argv[1], sys.argv[2], sys.argv[3:]
wheel = zipfile.ZipFile(glob.glob(os.path.join(wheel_dir, "*.whl"))[0])
for version in versions:
    prefix = f"kubernetes_validate/kubernetes-json-schema/v{version}-local-strict/"
    names = [n for n in wheel.namelist() if n.startswith(prefix) and n.endswith(".json")]
    if not names:
        sys.exit(f"helm-check: kubernetes-validate has no schemas for Kubernetes {version}")
    out_dir = os.path.join(root, f"v{version}-local-strict")
    os.makedirs(out_dir, exist_ok=True)
    for name in names:
        schema = json.loads(wheel.read(name))
        # file-local: no `$id` (it would make refs resolve against https://kubernetes.io),
        # and refs to the shared definitions relative to the file
        schema.pop("$id", None)
        text = json.dumps(schema).replace('"/api/_definitions.json#', '"_definitions.json#')
        with open(os.path.join(out_dir, os.path.basename(name)), "w") as f:
            f.write(text)
    open(os.path.join(out_dir, ".complete"), "w").close()
    print(f"helm-check: {len(names)} schemas for Kubernetes {version} in {out_dir}")
EOF
fi
schema_location="$schema_root/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"

# ------------------------------------------------------------------ 3. scenarios
work=$(mktemp -d)
trap 'rm -rf "$work" "${wheel_dir:-}"' EXIT

# every optional template on: the chart's own Secret with all groups, HPA, ServiceMonitor, CA
cat >"$work/all-features.yaml" <<'EOF'
kafka:
  securityProtocol: SASL_SSL
  sasl: {mechanism: SCRAM-SHA-256, username: callctl, password: not-a-real-password}
  tls: {caSecret: kafka-ca}
sinch: {applicationKey: test-key, applicationSecret: dGVzdC1zZWNyZXQ=, regionalUrlTemplate: "https://calling-{region}.example.com", proxyUrl: "http://proxy.internal:3128"}
idempotency: {backend: redis, redis: {url: "redis://redis:6379/0"}}
autoscaling: {hpa: {enabled: true, minReplicas: 2, maxReplicas: 4}}
serviceMonitor: {enabled: true}
prometheusRule: {enabled: true, labels: {release: prometheus}}
grafanaDashboard: {enabled: true}
podAntiAffinityPreset: hard
callbacks: {enabled: true}
networkPolicy:
  ingress: {from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]}
  egress: {proxy: {to: [{ipBlock: {cidr: 10.9.9.9/32}}]}}
terminationGracePeriodSeconds: 45
tracing: {enabled: true, otlpEndpoint: "http://otel-collector.monitoring:4318/v1/traces", sampleRatio: 0.1}
tests: {callId: live-call-1, timeoutSeconds: 30}
extraEnv: [{name: CALLCTL_SNAPSHOT_DEFAULT, value: "false"}, {name: OTEL_SERVICE_NAME, value: voice-call-control}]
commonAnnotations: {team: voice}
callbacks:
  enabled: true
  routes: {numbers: {"+46700000010": {ice: {action: {name: connectPstn, number: "+46700000099"}}}}}
  ingress: {enabled: true, className: nginx, host: callbacks.voice.example.com}
EOF
# KEDA with the chart's Secret (TriggerAuthentication from it)
cat >"$work/keda.yaml" <<'EOF'
kafka:
  securityProtocol: SASL_PLAINTEXT
  sasl: {username: callctl, password: not-a-real-password}
idempotency: {backend: redis, redis: {url: "redis://redis:6379/0"}}
keda: {enabled: true, maxReplicaCount: 3}
pdb: {minAvailable: 1}
EOF

# SQLite in a Deployment that recreates: the chart's own PersistentVolumeClaim
cat >"$work/sqlite-deployment.yaml" <<'EOF'
workloadKind: Deployment
updateStrategy: {type: Recreate}
persistence: {size: 8Gi, storageClass: fast-ssd}
EOF

failures=0
check() { # name, helm args...
    local name=$1
    shift
    if ! "$HELM" lint --strict "$CHART" "$@" >"$work/lint.out" 2>&1; then
        err "$name: helm lint"; cat "$work/lint.out" >&2; failures=$((failures + 1)); return
    fi
    # no notices either: --strict fails on warnings only, an [INFO] (e.g. "icon is recommended") passes
    if grep -E '^\[(INFO|WARNING)\]' "$work/lint.out" >&2; then
        err "$name: helm lint has notices"; failures=$((failures + 1)); return
    fi
    local v out kinds
    for v in $KUBE_VERSIONS; do
        out="$work/$name-$v.yaml"
        if ! "$HELM" template cc "$CHART" --namespace call-control --kube-version "$v" "$@" \
            >"$out" 2>"$work/template.err"; then
            err "$name: helm template (Kubernetes $v)"; cat "$work/template.err" >&2
            failures=$((failures + 1)); continue
        fi
        kinds=$(awk '/^kind:/ {print $2}' "$out" | sort | uniq -c | awk '{printf "%s%s×%s", sep, $2, $1; sep=" "}')
        if "$KUBECONFORM" -strict -summary -kubernetes-version "$v" \
            -schema-location "$schema_location" -skip "$SKIP_KINDS" "$out" >"$work/kc.out" 2>&1; then
            log "ok   $name, Kubernetes $v: $(tail -n 1 "$work/kc.out" | sed 's/^Summary: //') [$kinds]"
        else
            err "$name, Kubernetes $v: kubeconform"; cat "$work/kc.out" >&2
            failures=$((failures + 1))
        fi
    done
}

check default
check production -f "$PROD_VALUES"
check all-features -f "$work/all-features.yaml"
check keda -f "$work/keda.yaml"
check sqlite-deployment -f "$work/sqlite-deployment.yaml"

# ------------------------------------------------------------------ 4. what must be refused
refuse() { # name, expected message part, helm args...
    local name=$1 expect=$2
    shift 2
    if "$HELM" template cc "$CHART" "$@" >/dev/null 2>"$work/refuse.err"; then
        err "refuse $name: helm template accepted it"; failures=$((failures + 1))
    elif ! grep -q -- "$expect" "$work/refuse.err"; then
        err "refuse $name: failed, but not with '$expect':"; cat "$work/refuse.err" >&2
        failures=$((failures + 1))
    else
        log "ok   refused $name"
    fi
}
refuse "grace period not above shutdownGraceSeconds" "must be larger than shutdownGraceSeconds" \
    --set terminationGracePeriodSeconds=20
refuse "sqlite with 3 replicas" "set idempotency.backend=redis" --set replicaCount=3
refuse "sqlite with an HPA up to 3" "with up to 3 replicas" --set autoscaling.hpa.enabled=true \
    --set autoscaling.hpa.maxReplicas=3
refuse "sqlite without persistent storage" "persistence.enabled=false" --set persistence.enabled=false
refuse "sqlite in a Deployment that surges" "rolling update surges" --set workloadKind=Deployment
refuse "the memory store (schema)" "idempotency.backend" --set idempotency.backend=memory
refuse "HPA and KEDA together" "choose one" --set idempotency.backend=redis \
    --set idempotency.redis.url=redis://r:6379/0 --set autoscaling.hpa.enabled=true --set keda.enabled=true
refuse "SASL without credentials" "needs kafka.sasl.username" --set kafka.securityProtocol=SASL_SSL
refuse "redis without a URL" "needs idempotency.redis.url" --set idempotency.backend=redis
refuse "unknown security protocol (schema)" "securityProtocol" --set kafka.securityProtocol=TLS
refuse "misspelt value (schema)" "additional properties" --set kafka.bootstrapServer=x:9092
refuse "callback path not a path (schema)" "callbacks" --set callbacks.path=sinch

# ------------------------------------------------------------------ 5. unit tests
if "$UNITTEST" --color=false --strict "$CHART" >"$work/unittest.out" 2>&1; then
    log "ok   unit tests: $(grep -E '^Tests:' "$work/unittest.out" | tr -s ' ')"
else
    err "unit tests (helm-unittest)"; cat "$work/unittest.out" >&2; failures=$((failures + 1))
fi

if ((failures)); then
    err "$failures check(s) failed ($((SECONDS - t0)) s)"
    exit 1
fi
log "all checks passed in $((SECONDS - t0)) s"
