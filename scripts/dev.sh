#!/usr/bin/env bash
# Starts the local stack on seeded demo data and leaves it running:
#   DynamoDB Local on 127.0.0.1:${DYNAMODB_PORT:-8000} (data kept in .local/dynamodb),
#   the table, and the deterministic demo tenants (seed ${SEED:-42}).
# Stop it with: scripts/dynamodb-local.sh stop
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

export DYNAMODB_PORT="${DYNAMODB_PORT:-8000}"
export DYNAMODB_ENDPOINT="http://127.0.0.1:$DYNAMODB_PORT"
export TABLE_NAME="${TABLE_NAME:-wrapper-app-sync}"

scripts/dynamodb-local.sh start
cargo build --quiet -p wrapper-sync-cli
./target/debug/wrapper-sync table create
./target/debug/wrapper-sync seed --seed "${SEED:-42}"

cat <<INFO

DynamoDB Local is running on $DYNAMODB_ENDPOINT with table $TABLE_NAME seeded.
  export DYNAMODB_ENDPOINT=$DYNAMODB_ENDPOINT TABLE_NAME=$TABLE_NAME
  ./target/debug/wrapper-sync table describe
  ./target/debug/wrapper-sync import my-records.ndjson      # see docs/import-format.md
  scripts/dynamodb-local.sh stop                            # when done
INFO
