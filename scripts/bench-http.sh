#!/usr/bin/env bash
# HTTP benchmarks of `techpack serve` (BENCHMARKS.md): latency of a cached base-views request,
# run triggers accepted per second, and server memory idle and with 1,000 live runs.
# Installs wrk (Debian) if missing; everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
# (TECHPACK_BIN=path/to/techpack measures that binary instead of building the release one.)
BIN=${TECHPACK_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/techpack}
[ -n "${TECHPACK_BIN:-}" ] || cargo build --release -q
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/workflows"
cat > "$WORK/workflows/noop.yaml" <<'YAML'
name: noop
steps:
  only: { uses: core/echo, with: { value: 1 } }
YAML
cat > "$WORK/workflows/wait.yaml" <<'YAML'
name: wait
steps:
  hold: { uses: core/sleep, with: { ms: 60000 } }
YAML
export TECHPACK_ADMIN_TOKEN=bench-admin
$BIN serve --addr 127.0.0.1:0 --data-dir "$WORK/data" --workflows-dir "$WORK/workflows" > "$WORK/server.out" 2>/dev/null &
SERVER=$!
for _ in $(seq 100); do grep -q listening "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
BASE=$(grep -o 'http://[0-9.:]*' "$WORK/server.out")
rss() { awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$SERVER/status; }
echo "server idle RSS: $(rss)"

TOKEN=$(curl -s -X POST "$BASE/api/admin/users" -H "Authorization: Bearer bench-admin" -H 'Content-Type: application/json' \
  -d '{"name":"bench","credits":100000000}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
PRODUCT=$(curl -s -X POST "$BASE/api/products" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"name":"bench"}' | sed 's/.*"id":"\([^"]*\)".*/\1/')
curl -s -o /dev/null -X POST "$BASE/api/products/$PRODUCT/images" -H "Authorization: Bearer $TOKEN" -F image=@workflows/samples/sample-product.png -F view=front
curl -s -o /dev/null -X POST "$BASE/api/tech-pack-v2/base-views/analyze" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "{\"productId\":\"$PRODUCT\"}"

cat > "$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.body = os.getenv("BODY")
LUA
echo
echo "== cached base-views request (1 connection, 10 s): latency"
BODY="{\"productId\":\"$PRODUCT\"}" wrk -t1 -c1 -d10s --latency -s "$WORK/post.lua" "$BASE/api/tech-pack-v2/base-views/analyze" | grep -E "50%|99%|Requests/sec|Non-2xx"
echo
echo "== cached base-views request (8 connections, 10 s): latency under load"
BODY="{\"productId\":\"$PRODUCT\"}" wrk -t2 -c8 -d10s --latency -s "$WORK/post.lua" "$BASE/api/tech-pack-v2/base-views/analyze" | grep -E "50%|99%|Requests/sec|Non-2xx"
echo
echo "== run triggers (POST /api/workflows/noop/runs, 64 connections, 10 s)"
BODY='{}' wrk -t2 -c64 -d10s --latency -s "$WORK/post.lua" "$BASE/api/workflows/noop/runs" | grep -E "50%|99%|Requests/sec|Non-2xx"
echo
echo "== 1,000 live runs"
for i in $(seq 1000); do echo "{}"; done | xargs -P 16 -I{} curl -s -o /dev/null -X POST "$BASE/api/workflows/wait/runs" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{}'
sleep 2
echo "server RSS with 1,000 live runs: $(rss)"
