#!/usr/bin/env bash
# Installs, starts and stops moto's server mode on 127.0.0.1: the emulator of the AWS
# services DynamoDB Local does not cover (Secrets Manager here; Step Functions, EventBridge
# and SQS for the orchestration and ingestion work). One harness for every suite that needs it.
#
#   scripts/moto.sh install      pip package moto[server] (skipped when moto_server exists)
#   scripts/moto.sh start        in the background, on MOTO_PORT (default 5005)
#   scripts/moto.sh stop
#   scripts/moto.sh status
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home="$root/.local/moto"
port="${MOTO_PORT:-5005}"
pid_file="$home/moto-$port.pid"
log_file="$home/moto-$port.log"
version="5.2.5"

install() {
    command -v moto_server >/dev/null 2>&1 && return 0
    python3 -m pip install --quiet --disable-pip-version-check "moto[server]==$version" >&2
}

running() {
    [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

answers() {
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

start() {
    install
    mkdir -p "$home"
    if running && answers; then echo "moto already running on 127.0.0.1:$port" >&2; return 0; fi
    if answers; then echo "port $port is taken by another process" >&2; exit 1; fi
    # Spawned through Python so the server inherits no descriptor of ours and runs in its own session.
    python3 - "$log_file" "$pid_file" moto_server -H 127.0.0.1 -p "$port" <<'PY'
import subprocess, sys
log_file, pid_file, *command = sys.argv[1:]
with open(log_file, "wb") as log:
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True, close_fds=True)
with open(pid_file, "w") as out:
    out.write(str(child.pid))
PY
    for _ in $(seq 1 120); do
        if answers; then echo "moto is up on 127.0.0.1:$port" >&2; return 0; fi
        running || { cat "$log_file" >&2; echo "moto exited" >&2; exit 1; }
        sleep 0.25
    done
    echo "moto did not answer within 30 s; see $log_file" >&2
    exit 1
}

stop() {
    if running; then
        kill "$(cat "$pid_file")" 2>/dev/null || true
        for _ in $(seq 1 40); do running || break; sleep 0.25; done
        running && kill -9 "$(cat "$pid_file")" 2>/dev/null || true
        echo "moto on port $port stopped" >&2
    fi
    rm -f "$pid_file"
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    status) if running && answers; then echo "running on 127.0.0.1:$port"; else echo "not running"; exit 1; fi ;;
    *) echo "usage: $0 install | start | stop | status" >&2; exit 2 ;;
esac
