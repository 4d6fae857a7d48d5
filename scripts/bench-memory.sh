#!/usr/bin/env bash
# Memory under concurrent image work (BENCHMARKS.md): 32 concurrent 22 MiB uploads (the
# sample photo padded with a tEXt chunk), each followed by a base-views analysis, against the
# release binary with its default memory budget; reports the server's peak RSS (VmHWM).
# Usage: scripts/bench-memory.sh [CONCURRENCY] [extra `techpack serve` flags...]
# (TECHPACK_BIN=path/to/techpack measures that binary instead of building the release one.)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-32}
shift || true
BIN=${TECHPACK_BIN:-target/release/techpack}
[ -n "${TECHPACK_BIN:-}" ] || cargo build --release -q
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

# A valid PNG: the sample photo with a 22 MiB tEXt chunk after its header.
python3 - "$WORK/padded.png" <<'PY'
import struct, sys, zlib
png = open("workflows/samples/sample-product.png", "rb").read()
total = 22 * 1024 * 1024
text = b"Comment\0" + b"x" * (total - len(png) - 12 - 8)
chunk = struct.pack(">I", len(text)) + b"tEXt" + text + struct.pack(">I", zlib.crc32(b"tEXt" + text))
open(sys.argv[1], "wb").write(png[:33] + chunk + png[33:])
PY

export TECHPACK_ADMIN_TOKEN=bench-admin
$BIN serve --addr 127.0.0.1:0 --data-dir "$WORK/data" --workflows-dir workflows "$@" > "$WORK/server.out" 2>/dev/null &
SERVER=$!
for _ in $(seq 100); do grep -q listening "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
BASE=$(grep -o 'http://[0-9.:]*' "$WORK/server.out")
status() { awk -v k="$1" '$1 == k":" {printf "%.0f MiB", $2/1024}' /proc/$SERVER/status; }
echo "server idle: VmRSS $(status VmRSS)"

# Eight users share the load, as the issue's eight uploaders did.
for u in $(seq 8); do
  curl -s -X POST "$BASE/api/admin/users" -H "Authorization: Bearer bench-admin" -H 'Content-Type: application/json' \
    -d "{\"name\":\"user$u\",\"credits\":1000}" | sed 's/.*"token":"\([^"]*\)".*/\1/' > "$WORK/token$u"
done

one() {
  local i=$1 token product
  token=$(cat "$WORK/token$(( (i % 8) + 1 ))")
  product=$(curl -s -X POST "$BASE/api/products" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"name\":\"bench $i\"}" | sed 's/.*"id":"\([^"]*\)".*/\1/')
  local up an
  up=$(curl -s -o "$WORK/up$i.json" -w '%{http_code}' --expect100-timeout 120 -X POST "$BASE/api/products/$product/images" \
    -H "Authorization: Bearer $token" -F image=@"$WORK/padded.png" -F view=front)
  an=$(curl -s -o "$WORK/an$i.json" -w '%{http_code}' -X POST "$BASE/api/tech-pack-v2/base-views/analyze" \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "{\"productId\":\"$product\"}")
  echo "upload $up analyze $an"
}
export -f one
export BASE WORK

START=$(date +%s.%N)
seq "$N" | xargs -P "$N" -I{} bash -c 'one {}' > "$WORK/results"
END=$(date +%s.%N)
echo "$N concurrent 22 MiB uploads + analyses in $(echo "$END - $START" | bc) s:"
sort "$WORK/results" | uniq -c
echo "server peak RSS (VmHWM): $(status VmHWM); now VmRSS $(status VmRSS)"
du -sh "$WORK/data/blobs" | awk '{print "stored blobs: " $1}'
