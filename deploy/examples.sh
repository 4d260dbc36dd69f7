#!/usr/bin/env bash
# deploy/examples.sh - installs what the integration snippets (docs/examples/{java,go,node}) and
# the AsyncAPI check (deploy/asyncapi) need, from the ordinary registries, so their tests can run:
#   java: the snippets' classpath from Maven Central (mvn, cached in ~/.m2)
#         -> $LOCAL_DIR/examples/java.classpath
#   go:   both snippets built (Go module proxy, cached in the Go module and build caches)
#         -> $LOCAL_DIR/examples/go/{produce,consume}
#   node: `npm ci` in docs/examples/node and deploy/asyncapi (cached in ~/.npm)
# Every step is quick when nothing changed. A missing toolchain fails with its name: CI has them
# all. (CI: `make examples`, run by `make test`.)
#
# Env: CALLCTL_LOCAL_DIR (state root, default .local), MVN (mvn).
set -euo pipefail

REPO_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL_DIR=${CALLCTL_LOCAL_DIR:-$REPO_ROOT/.local}
OUT="$LOCAL_DIR/examples"
MVN=${MVN:-mvn}
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

log() { printf 'examples: %s\n' "$*"; }
need() {
    command -v "$1" >/dev/null 2>&1 || {
        log "FAIL: $1 is needed for $2 (install it; CI has it)" >&2
        exit 2
    }
}
need java "the Java snippets"
need "$MVN" "the Java snippets' dependencies"
need go "the Go snippets"
need node "the Node snippets and the AsyncAPI check"
need npm "the Node snippets' and the AsyncAPI check's dependencies"
mkdir -p "$OUT/go"

t=$SECONDS
pom="$REPO_ROOT/docs/examples/java/pom.xml"
if [[ ! -s $OUT/java.classpath || $pom -nt $OUT/java.classpath ]]; then # mvn takes ~10 s
    "$MVN" -B -q -f "$pom" "$DEP_PLUGIN:build-classpath" -Dmdep.outputFile="$OUT/java.classpath"
fi
log "java classpath resolved ($((SECONDS - t)) s)"

t=$SECONDS
(cd "$REPO_ROOT/docs/examples/go" && go build -mod=readonly -o "$OUT/go/" ./...)
log "go snippets built ($((SECONDS - t)) s)"

for dir in docs/examples/node deploy/asyncapi; do
    t=$SECONDS
    lock="$REPO_ROOT/$dir/package-lock.json"
    stamp="$REPO_ROOT/$dir/node_modules/.package-lock.json"
    # npm ci wipes node_modules: only when the lock file changed since the last install
    if [[ ! -f $stamp || $lock -nt $stamp ]]; then
        (cd "$REPO_ROOT/$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
    log "$dir: node modules installed ($((SECONDS - t)) s)"
done
