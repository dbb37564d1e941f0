#!/usr/bin/env bash
# The benchmarks in one command (docs/benchmarks.md): starts an in-memory DynamoDB Local on a
# free loopback port, builds the five functions, the hello-world baseline and the bench in
# release mode, then runs `wrapper-bench` (every benchmark by default; pass `warm`, `cpu`, `cold`, `ingest`,
# `scale` and `--rounds N` to run one; `client` runs the TypeScript client's mirror benchmark instead).
# The report is printed and kept in .local/bench-report.md.
# Benchmarks print ratios and never fail on a number; CI does not run them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/dynamodb-local.sh install
DYNAMODB_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export DYNAMODB_PORT
MOTO_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export MOTO_PORT
trap 'scripts/dynamodb-local.sh stop; scripts/moto.sh stop' EXIT
scripts/dynamodb-local.sh start --in-memory
scripts/moto.sh start
export DYNAMODB_ENDPOINT="http://127.0.0.1:$DYNAMODB_PORT"
export MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT"

if [ "${1:-}" = "client" ]; then
    # The TypeScript client's mirror against raw page fetches (clients/typescript/bench), on the
    # release CLI's local server; USERS and ROUNDS size it.
    cargo build --release --quiet -p wrapper-sync-cli
    (cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build \
        && WRAPPER_SYNC_CLI="${CARGO_TARGET_DIR:-$root/target}/release/wrapper-sync" node bench/mirror.bench.mjs) \
        | tee .local/bench-client-report.md
    exit "${PIPESTATUS[0]}"
fi
cargo build --release --quiet -p tenants-api -p roles-api -p credits-api -p sync-api -p sync-worker -p bench-hello -p wrapper-bench
mkdir -p .local
"${CARGO_TARGET_DIR:-target}/release/wrapper-bench" "$@" | tee .local/bench-report.md
