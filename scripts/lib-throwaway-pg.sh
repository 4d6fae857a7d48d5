# Sourced by the PostgreSQL benchmark scripts: checks for wrk and PostgreSQL, picks the
# binary to measure, and starts a durable throw-away PostgreSQL (fsync, synchronous_commit
# on) in a temporary directory. Everything it and the caller start stops on exit.
#
# Before sourcing: `cd` to the repository; optionally PG_EXTRA_OPTIONS (more `-c` settings).
# After: BIN (TECHPACK_BIN, or the release build), WORK (the temporary directory), PGBIN,
# PORT, PSQL (psql as postgres, unaligned), as_pg, and PIDS (append the caller's processes).
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
