# Sourced by the PostgreSQL benchmark scripts: checks for wrk and PostgreSQL, picks the
# binary to measure, and starts a durable throw-away PostgreSQL (fsync, synchronous_commit
# on) in a temporary directory. Everything it and the caller start stops on exit.
#
# Before sourcing: `cd` to the repository; optionally PG_EXTRA_OPTIONS (more `-c` settings).
# After: BIN (TECHPACK_BIN, or the release build), WORK (the temporary directory), PGBIN,
# PORT, PSQL (psql as postgres, unaligned), as_pg, PIDS (append the caller's processes), and
# the helpers `worker`, `token` and `post_lua` below (workflows go in "$WORK/workflows").
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
mkdir -p "$WORK/pg"
if [ "$(id -u)" = 0 ]; then chown postgres "$WORK/pg"; fi
as_pg "$PGBIN/initdb" -D "$WORK/pg" -U postgres -A trust >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg/log" -w -o "-p $PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c max_connections=200 ${PG_EXTRA_OPTIONS:-}" start >/dev/null
PSQL="$PGBIN/psql -h 127.0.0.1 -p $PORT -U postgres -Atq"
export TECHPACK_ADMIN_TOKEN=bench-admin

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
