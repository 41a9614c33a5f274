#!/usr/bin/env bash
# Smoke test of the real Prefect path: server → process work pool → `prefect deploy --all`
# (prefect.yaml) → worker → `prefect deployment run 'memo-task/memo-task'` → export checked.
#
#   SMOKE_TASK_ID=<task id> SMOKE_EXPECT=<export file> MEMO_DATABASE_URL=... MEMO_EXPORTS_DIR=... \
#   MEMO_WORK_DIR=... MEMO_SANDBOX=process bash deploy/smoke-deployment.sh
#
# With PREFECT_API_URL set, uses that server (and PREFECT_API_AUTH_STRING, e.g. after
# `set -a; . /etc/memo-taskrunner/secrets.env; set +a`); otherwise starts its own (SQLite,
# PREFECT_HOME in a temporary directory, a free port, basic auth with a random auth string,
# as deploy/prefect-server.service requires one) and stops it at the end. Either way it checks
# that the API refuses a request without credentials: fails for its own server, warns for
# another. The worker gets the MEMO_* environment of this shell. Run by
# tests/flows/test_deployments.py (CI); exit 0 = passed.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${SMOKE_TASK_ID:?set SMOKE_TASK_ID to the id of a task in MEMO_DATABASE_URL}"
PREFECT="${PREFECT:-prefect}"
POOL="${SMOKE_POOL:-memo-process}"
TIMEOUT="${SMOKE_TIMEOUT:-180}"
export DO_NOT_TRACK=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_WORKER_QUERY_SECONDS="${PREFECT_WORKER_QUERY_SECONDS:-1}"

tmp="$(mktemp -d)"
pids=()
cleanup() {
    # a Prefect worker needs two SIGTERMs; the server one
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    sleep 1
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

if [ -z "${PREFECT_API_URL:-}" ]; then
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    export PREFECT_HOME="$tmp/prefect-home"
    export PREFECT_API_DATABASE_CONNECTION_URL="sqlite+aiosqlite:///$tmp/prefect.db"
    if [ -z "${PREFECT_SERVER_API_AUTH_STRING:-}" ]; then
        PREFECT_SERVER_API_AUTH_STRING="smoke:$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
    fi
    export PREFECT_SERVER_API_AUTH_STRING PREFECT_API_AUTH_STRING="$PREFECT_SERVER_API_AUTH_STRING"
    own_server=1
    echo "smoke: starting prefect server on port $port"
    "$PREFECT" server start --host 127.0.0.1 --port "$port" > "$tmp/server.log" 2>&1 &
    pids+=("$!")
    export PREFECT_API_URL="http://127.0.0.1:$port/api"
    for i in $(seq 120); do
        curl -sf "$PREFECT_API_URL/health" > /dev/null && break
        [ "$i" = 120 ] && { echo "smoke: server not healthy"; cat "$tmp/server.log"; exit 1; }
        sleep 1
    done
fi
echo "smoke: Prefect API $PREFECT_API_URL"
# The control plane is closed: without credentials the API answers 401 (only /health is open).
anonymous="$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d '{"include_secrets": true}' "$PREFECT_API_URL/block_documents/filter" || true)"
if [ "$anonymous" != 401 ]; then
    if [ -n "${own_server:-}" ]; then
        echo "smoke: FAILED: the Prefect API answered $anonymous to a request without credentials"; exit 1
    fi
    echo "smoke: WARNING: the Prefect API at $PREFECT_API_URL answers without credentials ($anonymous):" \
         "set PREFECT_SERVER_API_AUTH_STRING (memo-taskrunner setup-secrets, docs/prefect.md)"
fi

"$PREFECT" work-pool inspect "$POOL" > /dev/null 2>&1 || "$PREFECT" work-pool create "$POOL" --type process
"$PREFECT" --no-prompt deploy --all

"$PREFECT" worker start --pool "$POOL" --name "smoke-$$" --limit 2 > "$tmp/worker.log" 2>&1 &
pids+=("$!")

status=0
"$PREFECT" deployment run 'memo-task/memo-task' --param task_id="$SMOKE_TASK_ID" \
    --watch --watch-interval 1 --watch-timeout "$TIMEOUT" | tee "$tmp/run.log" || status=$?
if [ "$status" != 0 ] || ! grep -q "Completed" "$tmp/run.log"; then
    echo "smoke: FAILED: the memo-task run did not complete (exit $status)"; echo "--- worker log"; cat "$tmp/worker.log"
    exit 1
fi
if [ -n "${SMOKE_EXPECT:-}" ] && [ ! -s "$SMOKE_EXPECT" ]; then
    echo "smoke: FAILED: $SMOKE_EXPECT was not written"; cat "$tmp/worker.log"; exit 1
fi
echo "smoke: OK (memo-task ran through prefect.yaml, a work pool and a worker)"
