#!/usr/bin/env bash
# Workers on one PostgreSQL (BENCHMARKS.md, "Scale out"): run triggers accepted per second
# with 1 and with 2 `techpack serve` workers, and the time from SIGKILL of a worker to its runs
# running again on the other. A durable throw-away PostgreSQL (fsync, synchronous_commit on)
# in a temporary directory; wrk (installed from Debian if missing) on 127.0.0.1; everything
# shares this machine's cores and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib-throwaway-pg.sh

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
