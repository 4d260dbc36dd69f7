#!/usr/bin/env bash
# deploy/audit.sh - known vulnerabilities in the locked runtime dependencies (`make audit`).
#
# pip-audit (pinned, run with uv's tool runner) checks `uv export` of uv.lock (no dev group,
# hashes kept, nothing installed) against PyPI's vulnerability data. For CI with network access
# to that service; not run by .ci/run. Where the service cannot be reached (this repository's
# own build machine), pip-audit reports packages as "not found" or fails: then this script says
# NOT CHECKED and exits 2. It prints "no known vulnerabilities" only when every package was
# actually checked.
#
# Exit: 0 every package checked, none vulnerable; 1 vulnerabilities found; 2 not (fully) checked.
# Env: PIP_AUDIT_VERSION (2.10.1), PIP_AUDIT_ARGS (extra arguments, e.g. --vulnerability-service osv), UV.
set -uo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
UV=${UV:-$("$SCRIPT_DIR/uv.sh")}
PIP_AUDIT_VERSION=${PIP_AUDIT_VERSION:-2.10.1}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$REPO_ROOT" || exit 2

"$UV" export --frozen --format requirements.txt --no-dev --no-emit-project --quiet \
    --output-file "$work/requirements.txt" || { echo "audit: NOT CHECKED: uv export failed" >&2; exit 2; }
# shellcheck disable=SC2086
"$UV" tool run --quiet --from "pip-audit==$PIP_AUDIT_VERSION" pip-audit \
    --requirement "$work/requirements.txt" --require-hashes --disable-pip --no-deps \
    --progress-spinner off --format json --output "$work/report.json" ${PIP_AUDIT_ARGS:-} \
    2>"$work/stderr"
status=$?

python3 - "$work/report.json" "$status" "$work/stderr" <<'PY'
import json, sys
path, status, stderr_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
stderr = open(stderr_path).read().strip()
try:
    deps = json.load(open(path))["dependencies"]
except (OSError, ValueError, KeyError):
    print(f"audit: NOT CHECKED: pip-audit produced no report (exit {status})")
    if stderr:
        print("\n".join("  " + line for line in stderr.splitlines()[-10:]))
    sys.exit(2)
skipped = [d for d in deps if d.get("skip_reason")]
vulnerable = [d for d in deps if d.get("vulns")]
for d in vulnerable:
    for v in d["vulns"]:
        fixed = ", ".join(v.get("fix_versions") or []) or "no fix yet"
        print(f"audit: VULNERABLE {d['name']} {d['version']}: {v['id']} (fixed in: {fixed})")
if skipped:
    reasons = sorted({d["skip_reason"].split(":")[0] for d in skipped})
    print(
        f"audit: NOT CHECKED: {len(skipped)} of {len(deps)} packages could not be audited "
        f"({'; '.join(reasons)}). The vulnerability service was probably not reachable: "
        "this is not a clean result."
    )
    sys.exit(2 if not vulnerable else 1)
if vulnerable:
    sys.exit(1)
print(f"audit: no known vulnerabilities in {len(deps)} locked packages (pip-audit, every one checked)")
PY
