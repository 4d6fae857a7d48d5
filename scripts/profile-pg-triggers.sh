#!/usr/bin/env bash
# Where a run trigger's time goes on PostgreSQL (BENCHMARKS.md, "PostgreSQL: several workers"):
# N `techpack serve` workers (default 1) on a durable throw-away PostgreSQL with
# pg_stat_statements, a 2 s warm-up, then 10 s of wrk (64 connections split over the workers)
# on POST /api/workflows/noop/runs. Prints the trigger rate, the CPU the workers and
# PostgreSQL used per trigger (from /proc), the statements by total time, and how many of the
# `runs` updates were HOT. Release build unless TECHPACK_BIN names a binary.
#
#   scripts/profile-pg-triggers.sh [WORKERS]
set -euo pipefail
cd "$(dirname "$0")/.."
WORKERS=${1:-1}
PG_EXTRA_OPTIONS="-c shared_preload_libraries=pg_stat_statements"
source scripts/lib-throwaway-pg.sh
$PSQL -c "CREATE DATABASE bench" postgres
$PSQL -c "CREATE EXTENSION pg_stat_statements" bench
mkdir -p "$WORK/workflows"
printf 'name: noop\nsteps:\n  only: { uses: core/echo, with: { value: 1 } }\n' > "$WORK/workflows/noop.yaml"

BASES=()
for i in $(seq "$WORKERS"); do
  worker "w$i" bench
  base="BASE_w$i"
  BASES+=("${!base}")
done
TOKEN=$(token "${BASES[0]}" bench)
post_lua "$TOKEN"

wrk -t1 -c16 -d2s -s "$WORK/post-$TOKEN.lua" "${BASES[0]}/api/workflows/noop/runs" >/dev/null
sleep 1
$PSQL -c "SELECT pg_stat_statements_reset()" bench >/dev/null
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
postgres_pids() { pgrep -u postgres | tr '\n' ' '; }
SERVERS_0=$(ticks "${PIDS[@]}"); PG_0=$(ticks $(postgres_pids))
WRKS=()
for base in "${BASES[@]}"; do
  wrk -t1 -c$((64 / WORKERS)) -d10s -s "$WORK/post-$TOKEN.lua" "$base/api/workflows/noop/runs" \
    > "$WORK/wrk-${#WRKS[@]}" &
  WRKS+=($!)
done
wait "${WRKS[@]}"
SERVERS_1=$(ticks "${PIDS[@]}"); PG_1=$(ticks $(postgres_pids))
RATE=$(cat "$WORK"/wrk-* | awk '/Requests\/sec/ {s += $2} END {printf "%d", s}')
HZ=$(getconf CLK_TCK)
echo "== $WORKERS worker(s): $RATE triggers/s"
awk -v s=$((SERVERS_1 - SERVERS_0)) -v p=$((PG_1 - PG_0)) -v r="$RATE" -v hz="$HZ" 'BEGIN {
  printf "CPU per trigger: workers %.0f us, PostgreSQL %.0f us\n", s / hz / (r * 10) * 1e6, p / hz / (r * 10) * 1e6 }'
echo
echo "== statements by total time (calls | total ms | mean ms | statement)"
$PSQL -c "SELECT calls, round(total_exec_time::numeric, 0), round(mean_exec_time::numeric, 3),
                 left(regexp_replace(query, '\s+', ' ', 'g'), 100)
          FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15" bench
echo
echo "== runs updates (all | HOT)"
$PSQL -c "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'runs'" bench
