#!/usr/bin/env bash
# deploy/alerts-check.sh - the alert rules (helm/call-control/files/alerts.yaml) checked by
# Prometheus's own promtool: `promtool check rules`, then the unit tests of every rule in
# deploy/prometheus/alerts.test.yaml. (CI: `make alerts-check`.)
#
# promtool is built from the Go module proxy when missing or at another version, into $TOOLS_BIN:
#   go install github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_VERSION
# (Prometheus 3.x tags its Go module v0.3xx.y; the first build takes several minutes, then it is
# cached.)
#
# Env: PROMTOOL_VERSION (v0.316.0), TOOLS_BIN ($(go env GOPATH)/bin).
set -euo pipefail

REPO_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
RULES="$REPO_ROOT/helm/call-control/files/alerts.yaml"
TESTS="$REPO_ROOT/deploy/prometheus/alerts.test.yaml"
PROMTOOL_VERSION=${PROMTOOL_VERSION:-v0.316.0}

log() { printf 'alerts-check: %s\n' "$*"; }
command -v go >/dev/null 2>&1 || { log "FAIL: go is needed to build promtool" >&2; exit 2; }
TOOLS_BIN=${TOOLS_BIN:-$(go env GOPATH)/bin}
PROMTOOL="$TOOLS_BIN/promtool"

built=$([[ -x $PROMTOOL ]] && go version -m "$PROMTOOL" 2>/dev/null \
    | awk '$1=="mod" && $2=="github.com/prometheus/prometheus" {print $3}' || true)
if [[ $built != "$PROMTOOL_VERSION" ]]; then
    log "building promtool $PROMTOOL_VERSION into $TOOLS_BIN (go install; minutes the first time)"
    t=$SECONDS
    GOBIN="$TOOLS_BIN" go install "github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_VERSION"
    log "promtool built in $((SECONDS - t)) s"
fi
"$PROMTOOL" --version 2>&1 | head -n 1
"$PROMTOOL" check rules "$RULES"
"$PROMTOOL" test rules "$TESTS"
log "rules and their unit tests pass"
