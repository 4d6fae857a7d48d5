#!/usr/bin/env bash
# Workers on one PostgreSQL (BENCHMARKS.md, "Scale out"): run triggers accepted per second
# with 1 and with 2 `techpack serve` workers, and the time from SIGKILL of a worker to its runs
# running again on the other. A durable throw-away PostgreSQL (fsync, synchronous_commit on)
# in a temporary directory; wrk (installed from Debian if missing) on 127.0.0.1; everything
# shares this machine's cores and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || { echo "needs PostgreSQL (apt-get install postgresql)"; exit 1; }
# (TECHPACK_BIN=path/to/techpack measures that binary instead of building the release one.)
BIN=${TECHPACK_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/techpack}
[ -n "${TECHPACK_BIN:-}" ] || cargo build --release -q
WORK=$(mktemp -d)
chmod 755 "$WORK"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/pg" && [ "$(id -u)" = 0 ] && chown postgres "$WORK/pg"
as_pg "$PGBIN/initdb" -D "$WORK/pg" -U postgres -A trust >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg/log" -w -o "-p $PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c max_connections=200" start >/dev/null
PSQL="$PGBIN/psql -h 127.0.0.1 -p $PORT -U postgres -Atq"
export TECHPACK_ADMIN_TOKEN=bench-admin

mkdir -p "$WORK/workflows"
cat > "$WORK/workflows/noop.yaml" <<'YAML'
name: noop
steps:
  only: { uses: core/echo, with: { value: 1 } }
YAML
cat > "$WORK/workflows/wait.yaml" <<'YAML'
name: wait
steps:
  hold: { uses: core/sleep, with: { ms: 600000 } }
YAML

# worker NAME DB [LEASE]: starts a worker on database DB; sets BASE_NAME and PID_NAME.
worker() {
  local name=$1 db=$2 lease=${3:-5s}
  TECHPACK_LEASE=$lease TECHPACK_DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/$db" \
    $BIN serve --addr 127.0.0.1:0 --data-dir "$WORK/$db-$name" --workflows-dir "$WORK/workflows" \
    > "$WORK/$db-$name.out" 2>/dev/null &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 200); do grep -q listening "$WORK/$db-$name.out" 2>/dev/null && break; sleep 0.1; done
  printf -v "BASE_$name" '%s' "$(grep -o 'http://[0-9.:]*' "$WORK/$db-$name.out")"
  printf -v "PID_$name" '%s' "$pid"
}
token() {
  curl -s -X POST "$1/api/admin/users" -H "Authorization: Bearer bench-admin" -H 'Content-Type: application/json' \
    -d "{\"name\":\"$2\",\"credits\":100000000}" | sed 's/.*"token":"\([^"]*\)".*/\1/'
}
post_lua() {
  cat > "$WORK/post-$1.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $1"
wrk.body = "{}"
LUA
}

echo "== run triggers, 1 worker (POST /api/workflows/noop/runs, 64 connections, 10 s)"
$PSQL -c "CREATE DATABASE one" postgres
worker a one
T=$(token "$BASE_a" bench); post_lua "$T"
wrk -t2 -c64 -d10s --latency -s "$WORK/post-$T.lua" "$BASE_a/api/workflows/noop/runs" | grep -E "50%|99%|Requests/sec|Non-2xx"
kill "$PID_a"

echo
echo "== run triggers, 2 workers (32 connections each, 10 s, summed)"
$PSQL -c "CREATE DATABASE two" postgres
worker a two; worker b two
T=$(token "$BASE_a" bench); post_lua "$T"
wrk -t1 -c32 -d10s -s "$WORK/post-$T.lua" "$BASE_a/api/workflows/noop/runs" > "$WORK/wrk-a" &
W=$!
wrk -t1 -c32 -d10s -s "$WORK/post-$T.lua" "$BASE_b/api/workflows/noop/runs" > "$WORK/wrk-b"
wait $W
grep -h -E "Requests/sec|Non-2xx" "$WORK/wrk-a" "$WORK/wrk-b"
awk '/Requests\/sec/ {s += $2} END {printf "sum: %.0f requests/s\n", s}' "$WORK/wrk-a" "$WORK/wrk-b"
kill "$PID_a" "$PID_b"

echo
echo "== SIGKILL of a worker to its runs running again on the other (lease 5 s, 20 runs)"
$PSQL -c "CREATE DATABASE takeover" postgres
worker a takeover; worker b takeover
T=$(token "$BASE_a" bench)
for _ in $(seq 20); do
  curl -s -o /dev/null -X POST "$BASE_a/api/workflows/wait/runs" -H "Authorization: Bearer $T" -H 'Content-Type: application/json' -d '{}'
done
DB="postgres://postgres@127.0.0.1:$PORT/takeover"
for _ in $(seq 100); do
  [ "$($PSQL -c "SELECT count(*) FROM nodes WHERE status = 'running'" "$DB")" = 20 ] && break; sleep 0.1
done
OWNER=$($PSQL -c "SELECT DISTINCT owner FROM run_leases" "$DB")
kill -9 "$PID_a"
START=$(date +%s.%N)
for _ in $(seq 300); do
  [ "$($PSQL -c "SELECT count(*) FROM nodes WHERE status = 'running' AND attempt = 2" "$DB")" = 20 ] && break; sleep 0.05
done
END=$(date +%s.%N)
echo "previous owner: $OWNER; now: $($PSQL -c "SELECT owner, count(*) FROM run_leases GROUP BY owner" "$DB")"
echo "all 20 runs running again on the other worker $(echo "$END - $START" | bc -l | xargs printf '%.2f') s after SIGKILL"
