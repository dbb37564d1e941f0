#!/usr/bin/env bash
# Starts the whole API locally on seeded demo data:
#   DynamoDB Local on 127.0.0.1:${DYNAMODB_PORT:-8000} (data kept in .local/dynamodb),
#   the table and the deterministic demo tenants (seed ${SEED:-42}),
#   the API server on 127.0.0.1:${PORT:-3000} (every route, also its own local Kinde issuer),
# then prints curl lines with freshly minted tokens (reads, and a change pushed as the platform
# pushes it, with the incremental pull that shows it). Ctrl-C stops the API server;
# `scripts/dynamodb-local.sh stop` stops DynamoDB Local.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

export DYNAMODB_PORT="${DYNAMODB_PORT:-8000}"
export DYNAMODB_ENDPOINT="http://127.0.0.1:$DYNAMODB_PORT"
export TABLE_NAME="${TABLE_NAME:-wrapper-app-sync}"
export PORT="${PORT:-3000}"
cli=./target/debug/wrapper-sync

scripts/dynamodb-local.sh start
cargo build --quiet -p wrapper-sync-cli
$cli table create
$cli seed --seed "${SEED:-42}" --json > .local/seeded-tenants.json
python3 - .local/seeded-tenants.json <<'PY'
import json, sys
for t in json.load(open(sys.argv[1])):
    print(f"  {t['companyName']:<20} tenantId={t['tenantId']} kindeOrgId={t['kindeOrgId']} users={t['users']} active={t['isActive']}")
PY

$cli serve --port "$PORT" &
server=$!
trap 'kill $server 2>/dev/null || true' INT TERM EXIT
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    kill -0 $server 2>/dev/null || { echo "the API server did not start" >&2; exit 1; }
    sleep 0.1
done

read -r tenant org < <(python3 -c 'import json; t=json.load(open(".local/seeded-tenants.json"))[0]; print(t["tenantId"], t["kindeOrgId"])')
service_token=$($cli token service --service crm --tenant "$tenant")
kinde_token=$($cli token kinde --org "$org" --issuer "http://127.0.0.1:$PORT")
platform_token=$($cli token service --service wrapper --all-tenants)
write_token=$($cli token service --write --tenant "$tenant")
base="http://127.0.0.1:$PORT/api/sync"

# A ready change: the tenant's first user, renamed, as the platform would send it (the whole
# record, a sourceVersion in microseconds), and the instant the incremental pull starts from.
since=$(python3 - "$base/tenants/$tenant/users?limit=1" "$service_token" "$tenant" .local/rename-change.json <<'PY'
import datetime, json, sys, time, urllib.request
url, token, tenant, out = sys.argv[1:]
request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
user = json.load(urllib.request.urlopen(request))["data"][0]
record = {
    "userId": user["userId"], "kindeUserId": user.get("kindeId"), "email": user["personalInfo"]["email"],
    "firstName": user["personalInfo"]["firstName"], "lastName": user["personalInfo"]["lastName"] + "-Renamed",
    "department": user["organization"].get("department"), "title": user["organization"].get("designation") or None,
    "primaryOrganizationId": user["organization"].get("orgCode"), "isActive": user["status"]["isActive"],
    "lastActiveAt": user["status"].get("lastActivityAt"), "createdAt": user["createdAt"],
}
micros = time.time_ns() // 1000
change = {"changeId": f"dev-rename-{micros}", "type": "user", "tenantId": tenant, "sourceVersion": micros,
          "occurredAt": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
          "record": {k: v for k, v in record.items() if v is not None}}
json.dump([change], open(out, "w"))
print(datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"))
PY
)
cat <<INFO

The App Sync API is running on $base (alias /api/wrapper), over DynamoDB Local at $DYNAMODB_ENDPOINT.
Paste any of these (tokens are valid for an hour; mint more with $cli token --help):

  curl -s "$base/tenants/$tenant/users?limit=5" -H "Authorization: Bearer $service_token"
  curl -s "$base/tenants/$org/organizations" -H "Authorization: Bearer $kinde_token"
  curl -s "$base/tenants/$tenant/roles?appCode=crm" -H "Authorization: Bearer $service_token"
  curl -s -X POST "$base/tenants/$tenant/bootstrap" -H "Authorization: Bearer $service_token" -H 'Content-Type: application/json' -d '{"appCode":"crm"}'
  curl -s -X POST "$base/tenants/$tenant/sync" -H "Authorization: Bearer $service_token"
  curl -s "$base/tenants/$tenant/sync/status" -H "Authorization: Bearer $service_token"
  curl -s "$base/credit-configs/global?appCode=hr" -H "Authorization: Bearer $platform_token"
  curl -s "$base/data-requirements"

Push a change as the platform does (a user rename), then the incremental pull that shows it:

  curl -s -X POST "$base/tenants/$tenant/changes" -H "Authorization: Bearer $write_token" -H 'Content-Type: application/json' -d @.local/rename-change.json
  curl -s "$base/tenants/$tenant/users?updatedSince=$since" -H "Authorization: Bearer $service_token"

(or send a whole file: $cli changes send FILE --api $base --token "\$(${cli} token service --write --tenant $tenant)")

Next page: repeat a list request with &cursor=<pagination.nextCursor>. Ctrl-C stops the API server.
INFO
wait $server
