#!/usr/bin/env bash
# schemathesis against the live API: builds the binary, starts `techpack serve` on loopback
# with a fresh data directory and one seeded user, and runs schemathesis (pinned below, in a
# virtualenv of its own) on `/api/openapi.json` with that user's bearer token. Every
# response must be no 5xx, a documented status, the documented content type and valid
# against its documented schema. Three passes: every operation as the user; the admin's
# endpoints with the admin token; the paths of a seeded product (with its tech pack), run
# and workflow. Bounded: a few dozen examples per operation, each request 10 s at most,
# each pass under `SCHEMATHESIS_TIME_LIMIT` seconds (240); about two minutes in all here.
#
# Used by .ci/run after the test suite; runs as it is on a developer's machine too.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
examples="${SCHEMATHESIS_EXAMPLES:-30}"
time_limit="${SCHEMATHESIS_TIME_LIMIT:-240}"
admin_token="schemathesis-admin-$$"

work="$(mktemp -d)"
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "== schemathesis: building techpack"
cargo build --locked --bin techpack
binary="${CARGO_TARGET_DIR:-target}/debug/techpack"

echo "== schemathesis: installing schemathesis $SCHEMATHESIS_VERSION"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"

mkdir -p "$work/workflows"
cp workflows/tech-pack-v2.yaml workflows/edit.yaml workflows/regenerate.yaml \
    workflows/examples/hello.yaml "$work/workflows/"

echo "== schemathesis: starting techpack serve"
TECHPACK_ADMIN_TOKEN="$admin_token" "$binary" serve --addr 127.0.0.1:0 \
    --data-dir "$work/data" --workflows-dir "$work/workflows" --shutdown-grace 5s \
    >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
base=
for _ in $(seq 1 300); do
    base="$(grep -o 'http://[0-9.:]*' "$work/serve.out" | head -n 1 || true)"
    [ -n "$base" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.err" >&2; exit 1; }
    sleep 0.2
done
[ -n "$base" ] || { echo "the server printed no address" >&2; exit 1; }
echo "listening on $base"

# One user with credits, a product with a photo and its tech pack, and a finished run, as a
# caller would have: the third pass below fuzzes the paths of these, so the answers that
# carry data are checked against their schemas too, not only the 404s of made-up ids.
json_field() {
    "$work/venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}
api() {
    local token="$1"
    shift
    curl -sS --fail-with-body -H "Authorization: Bearer $token" "$@"
}
token="$(api "$admin_token" -H 'Content-Type: application/json' \
    -d '{"name": "schemathesis", "credits": 50}' "$base/api/admin/users" | json_field token)"
product_id="$(api "$token" -H 'Content-Type: application/json' -d '{"name": "tote"}' \
    "$base/api/products" | json_field id)"
upload="$(api "$token" -F view=front -F image=@workflows/samples/sample-product.png \
    "$base/api/products/$product_id/images")"
image_hash="$(json_field imageHash <<<"$upload")"
api "$token" -o /dev/null -H 'Content-Type: application/json' \
    -d "{\"productId\": \"$product_id\", \"widthMm\": 380}" \
    "$base/api/tech-pack-v2/base-views/analyze"
run_id="$(api "$token" -X POST "$base/api/workflows/hello/runs" | json_field runId)"
for _ in $(seq 1 150); do
    api "$token" "$base/api/runs/$run_id" | grep -q '"status":"succeeded"' && break
    sleep 0.2
done
cat >"$work/seeded.toml" <<TOML
[[operations]]
include-path-regex = "^/api/products/[{]id[}]"
parameters = { "path.id" = "$product_id", "path.sha256" = "$image_hash", "path.file" = "bom.csv" }

[[operations]]
include-path-regex = "^/api/runs/[{]id[}]"
parameters = { "path.id" = "$run_id" }

[[operations]]
include-path-regex = "^/api/workflows/[{]name[}]"
parameters = { "path.name" = "hello" }
TOML

echo "== schemathesis: $examples examples per operation, at most ${time_limit}s"
# Runs schemathesis with the given token on the operations the other arguments select.
# `config` (a schemathesis.toml) is used when set.
run_schemathesis() {
    local token="$1"
    shift
    timeout --signal=INT "$time_limit" "$work/venv/bin/schemathesis" \
        ${config:+--config-file "$config"} run "$base/api/openapi.json" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        --phases examples,coverage,fuzzing \
        --max-examples "$examples" \
        --request-timeout 10 \
        --max-response-time 10 \
        --workers 2 \
        --seed 1 \
        --header "Authorization: Bearer $token" \
        "$@"
}

status=0
# From the scratch folder, where schemathesis keeps its example database.
cd "$work"
echo "-- as the user: every operation"
run_schemathesis "$token" || status=$?
# The admin's endpoints answer a user 401; with the admin token they create users, grant
# credits and save workflows (into this run's scratch folder).
echo "-- as the admin: the admin's and the workflows' endpoints"
run_schemathesis "$admin_token" --include-path-regex '^/api/(admin/|workflows)' || status=$?
echo "-- as the user: the paths of the seeded product, run and workflow"
config="$work/seeded.toml" run_schemathesis "$token" \
    --include-path-regex '^/api/(products|runs|workflows)/[{]' || status=$?
if [ "$status" -ne 0 ]; then
    echo "== schemathesis failed (exit $status); the server's log:" >&2
    tail -n 50 "$work/serve.err" >&2
fi
exit "$status"
