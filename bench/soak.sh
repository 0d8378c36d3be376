#!/usr/bin/env bash
# bench/soak.sh: run a steady mixed workload against a fresh gatehouse for
# a long while (10 minutes by default) and show that its database stays the
# same size once everything issued has had time to expire and be collected.
#
# Usage: bench/soak.sh                       (embedded SQLite store)
#        GHSOAK_POSTGRES=postgres://... bench/soak.sh   (a fresh schema there)
#
# The server runs with short lifetimes (access tokens 1 min, refresh
# families 2 min, idle 1 min, sessions 2 min, audit events 1 min) and
# collects every 10 s, so that within the first few minutes everything
# issued expires and the tables reach their steady state. bench/soak
# (4 workers) signs in, refreshes 20 times, revokes, gets and revokes a
# client_credentials token, again and again, and samples the database size
# and row counts every 30 s.
#
# Env: GHSOAK_DURATION (10m), GHSOAK_SAMPLE (30s), GHSOAK_SETTLE (4m),
#      GHSOAK_WORKERS (4), GHSOAK_POSTGRES (unset: SQLite)
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=../scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"
export PATH="$PATH:/usr/local/go/bin"
command -v curl >/dev/null 2>&1 || die "curl not found (apt-get install curl)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-soak.XXXXXX")
DATA=$TMP/data
LOG=$TMP/server.log
SERVER_PID=""
soak_cleanup() {
  if [[ -n $SERVER_PID ]]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
install_traps
add_cleanup soak_cleanup

log "building ./cmd/gatehouse and ./bench/soak into $TMP"
go build -o "$TMP/gatehouse" ./cmd/gatehouse
go build -o "$TMP/soak" ./bench/soak

export GATEHOUSE_TOKENS_ACCESS_TTL=1m GATEHOUSE_TOKENS_REFRESH_TTL=2m GATEHOUSE_TOKENS_REFRESH_IDLE_TTL=1m \
  GATEHOUSE_TOKENS_SESSION_TTL=2m GATEHOUSE_RETENTION_AUDIT=1m GATEHOUSE_RETENTION_GC_INTERVAL=10s \
  GATEHOUSE_LOG_REQUESTS=false
measure=(-sqlite "$DATA/gatehouse.db")
if [[ -n ${GHSOAK_POSTGRES:-} ]]; then
  schema="soak_$$"
  psql "$GHSOAK_POSTGRES" -qc "CREATE SCHEMA $schema" || die "cannot create schema $schema"
  drop_schema() { psql "$GHSOAK_POSTGRES" -qc "DROP SCHEMA $schema CASCADE" >/dev/null 2>&1 || true; }
  add_cleanup drop_schema
  sep='?'
  [[ $GHSOAK_POSTGRES == *\?* ]] && sep='&'
  export GATEHOUSE_STORE="$GHSOAK_POSTGRES${sep}search_path=$schema"
  measure=(-postgres "$GATEHOUSE_STORE")
fi
ghcli() { "$TMP/gatehouse" "$@" --data-dir "$DATA"; }
json_field() { sed -n "s/^ *\"$1\": *\"\([^\"]*\)\".*/\1/p" | head -n 1; }

mkdir -p "$DATA"
cc_secret=$(ghcli clients create --id bench-cc --name bench --grant-types client_credentials --json 2>>"$TMP/cli.log" | json_field client_secret)
web_secret=$(ghcli clients create --id bench-web --name web --redirect-uri https://app.example/cb \
  --skip-consent --json 2>>"$TMP/cli.log" | json_field client_secret)
[[ -n $cc_secret && -n $web_secret ]] || { cat "$TMP/cli.log" >&2; die "could not read the client secrets"; }
printf '%s\n' 'correct horse battery' | ghcli users create --username alice --password-stdin >/dev/null 2>>"$TMP/cli.log"

PORT=$(free_port 18180) || die "no free port from 18180"
BASE=http://127.0.0.1:$PORT
"$TMP/gatehouse" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" --issuer "$BASE" </dev/null >"$LOG" 2>&1 &
SERVER_PID=$!
for _ in $(seq 300); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$BASE/readyz" || true) == 200 ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$LOG" >&2; die "server exited (log above)"; }
  sleep 0.1
done

log "soaking $BASE for ${GHSOAK_DURATION:-10m} (${GHSOAK_POSTGRES:+PostgreSQL}${GHSOAK_POSTGRES:-SQLite})"
"$TMP/soak" -url "$BASE" -web-client-secret "$web_secret" -cc-client-secret "$cc_secret" "${measure[@]}" \
  -duration "${GHSOAK_DURATION:-10m}" -sample "${GHSOAK_SAMPLE:-30s}" -settle "${GHSOAK_SETTLE:-4m}" \
  -workers "${GHSOAK_WORKERS:-4}"
deleted=$(curl -s "$BASE/metrics" | grep '^gatehouse_gc_deleted_rows_total' || true)
echo
echo "rows deleted by the collector:"
printf '%s\n' "$deleted" | sed 's/^/    /'
