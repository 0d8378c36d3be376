#!/usr/bin/env bash
# bench/run.sh: load-test a fresh gatehouse server and print a Markdown table.
#
# Usage: bench/run.sh
#
# Builds ./cmd/gatehouse and ./bench/load into a temp dir (never into the
# repo), creates a fresh data dir, registers the bench clients (bench-cc:
# client_credentials; bench-web: authorization_code + refresh_token with
# --skip-consent) and the user alice with the CLI, starts
#   gatehouse serve --data-dir D --listen 127.0.0.1:P --issuer http://127.0.0.1:P
# with request logs off on a free loopback port, waits until discovery
# answers, then runs bench/load for: ceiling-sign, cc, refresh, introspect
# (5,000 distinct tokens cycled), ceiling-static (a bare handler writing
# fixed bytes), discovery, jwks, and cc, refresh and refresh without id_token
# again open loop at half their measured peak (p99 at half peak). bench-web
# registers id_token_signed_response_alg ES256, so refresh signs two ES256 tokens;
# "refresh, no id_token" runs the same with bench-web-lean, registered with
# omit_refresh_id_token (one signature per refresh, OIDC Core 12.2).
# Prints one Markdown table (req/s, p50, p99, errors, server CPU and memory
# per scenario), the ratios to the ceilings, and the server's idle VmRSS 3 s
# after the last run. Warnings and errors in the server log are listed.
# Exits non-zero if any request failed (the table is printed first).
#
# Env: GHBENCH_DURATION     measured duration of each run (10s)
#      GHBENCH_WARMUP       unmeasured warm-up before each run (1s)
#      GHBENCH_CONCURRENCY  connections / workers (32)
#      GHBENCH_PIN=1        pin the server (and the ceiling server) to CPU 0 and the
#                           harness to CPU 1 (DESIGN §8's one-pinned-core setup)
#      GHBENCH_SERVE_ARGS   extra arguments for `gatehouse serve`
#      GHBENCH_POSTGRES     a PostgreSQL URL: store everything in a fresh schema
#                           there (dropped afterwards) instead of embedded SQLite
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=../scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"

export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null 2>&1 || die "go not found on PATH or in /usr/local/go/bin"
command -v curl >/dev/null 2>&1 || die "curl not found (apt-get install curl)"

duration=${GHBENCH_DURATION:-10s}
warmup=${GHBENCH_WARMUP:-1s}
concurrency=${GHBENCH_CONCURRENCY:-32}
pin=${GHBENCH_PIN:-0}
dur_re='^[0-9]+(\.[0-9]+)?(ms|s|m)$'
[[ $duration =~ $dur_re ]] || die "GHBENCH_DURATION must be a Go duration like 10s, got '$duration'"
[[ $warmup =~ $dur_re || $warmup == 0 ]] || die "GHBENCH_WARMUP must be a Go duration like 1s, got '$warmup'"
[[ $concurrency =~ ^[1-9][0-9]*$ ]] || die "GHBENCH_CONCURRENCY must be a positive integer, got '$concurrency'"
read -r -a serve_args <<<"${GHBENCH_SERVE_ARGS:-}"

server_pin=()
load_pin=()
ceiling_pin=()
if [[ $pin == 1 ]]; then
  command -v taskset >/dev/null 2>&1 || die "GHBENCH_PIN=1 needs taskset (apt-get install util-linux)"
  (($(nproc) >= 2)) || die "GHBENCH_PIN=1 needs at least 2 CPUs, have $(nproc)"
  server_pin=(taskset -c 0)
  load_pin=(taskset -c 1)
  ceiling_pin=(-ceiling-cpus 0)
fi

SERVER_PID=""
TMP=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-load.XXXXXX")
DATA=$TMP/data
LOG=$TMP/server.log

stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  local i
  kill -TERM "$SERVER_PID" 2>/dev/null
  for ((i = 0; i < 100; i++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    warn "server pid $SERVER_PID ignored SIGTERM for 10 s; killing it"
    kill -KILL "$SERVER_PID" 2>/dev/null
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
bench_schema=""
bench_cleanup() {
  stop_server
  if [[ -n $bench_schema ]]; then
    psql "$GHBENCH_POSTGRES" -qc "DROP SCHEMA $bench_schema CASCADE" >/dev/null 2>&1 || true
  fi
  rm -rf "$TMP"
}
install_traps
add_cleanup bench_cleanup

log "building ./cmd/gatehouse and ./bench/load into $TMP"
go build -o "$TMP/gatehouse" ./cmd/gatehouse
go build -o "$TMP/load" ./bench/load
ghcli() { "$TMP/gatehouse" "$@" --data-dir "$DATA"; }

# json_field KEY: the string value of "KEY" in the JSON object on stdin.
json_field() { sed -n "s/^ *\"$1\": *\"\([^\"]*\)\".*/\1/p" | head -n 1; }

store_desc="embedded SQLite"
if [[ -n ${GHBENCH_POSTGRES:-} ]]; then
  command -v psql >/dev/null 2>&1 || die "GHBENCH_POSTGRES needs psql (apt-get install postgresql-client)"
  bench_schema="gh_bench_$$"
  psql "$GHBENCH_POSTGRES" -qc "CREATE SCHEMA $bench_schema" || die "cannot create schema $bench_schema in GHBENCH_POSTGRES"
  sep='?'
  [[ $GHBENCH_POSTGRES == *\?* ]] && sep='&'
  export GATEHOUSE_STORE="$GHBENCH_POSTGRES${sep}search_path=$bench_schema"
  store_desc="PostgreSQL (schema $bench_schema)"
fi

log "registering bench clients and user alice in a fresh data dir ($store_desc)"
mkdir -p "$DATA"
ghcli roles create deployer --permissions deployments:create >/dev/null 2>>"$TMP/cli.log" || { cat "$TMP/cli.log" >&2; die "could not create the deployer role"; }
cc_secret=$(ghcli clients create --id bench-cc --name bench --grant-types client_credentials \
  --scopes items:read --audience https://api.example --roles deployer --json 2>>"$TMP/cli.log" | json_field client_secret)
web_secret=$(ghcli clients create --id bench-web --name web --redirect-uri https://app.example/cb \
  --skip-consent --id-token-alg ES256 --json 2>>"$TMP/cli.log" | json_field client_secret)
lean_secret=$(ghcli clients create --id bench-web-lean --name lean --redirect-uri https://app.example/cb \
  --skip-consent --id-token-alg ES256 --omit-refresh-id-token --json 2>>"$TMP/cli.log" | json_field client_secret)
[[ -n $cc_secret && -n $web_secret && -n $lean_secret ]] || { cat "$TMP/cli.log" >&2; die "could not read the client secrets"; }
printf '%s\n' 'correct horse battery' | ghcli users create --username alice --password-stdin >/dev/null 2>>"$TMP/cli.log"

PORT=$(free_port 18080) || die "no free port from 18080"
BASE=http://127.0.0.1:$PORT
log "starting the server on $BASE${server_pin[*]:+ (${server_pin[*]})}"
GATEHOUSE_LOG_REQUESTS=false ${server_pin[@]+"${server_pin[@]}"} "$TMP/gatehouse" serve --data-dir "$DATA" \
  --listen "127.0.0.1:$PORT" --issuer "$BASE" ${serve_args[@]+"${serve_args[@]}"} </dev/null >"$LOG" 2>&1 &
SERVER_PID=$!

deadline=$(($(now_ms) + 30000))
while :; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$BASE/.well-known/openid-configuration" || true)
  [[ $code == 200 ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$LOG" >&2; die "server exited before it was ready (log above)"; }
  (($(now_ms) < deadline)) || { tail -n 20 "$LOG" >&2; die "server not ready within 30 s (last HTTP status $code)"; }
  sleep 0.01
done

failed=0
declare -A result=()
order=()

# load LABEL ARGS...: one harness run; its result line goes into result[LABEL].
load() {
  local label=$1 line rc=0
  shift
  info "$label"
  line=$(${load_pin[@]+"${load_pin[@]}"} "$TMP/load" -url "$BASE" -pid "$SERVER_PID" -label "$label" \
    -duration "$duration" -warmup "$warmup" -concurrency "$concurrency" "$@") || rc=$?
  if ((rc == 3)); then
    failed=1 # errors under load: reported on stderr by the harness, keep going
  elif ((rc != 0)); then
    tail -n 20 "$LOG" >&2
    die "bench/load -scenario for '$label' failed (exit $rc; server log tail above)"
  fi
  info "  $line"
  result[$label]=$line
  order+=("$label")
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$LOG" >&2; die "the server died during '$label'"; }
}

# field LABEL KEY: the value of KEY= in LABEL's result line ("-" if absent).
field() {
  local f
  for f in ${result[$1]}; do
    if [[ $f == "$2="* ]]; then
      printf '%s\n' "${f#*=}"
      return
    fi
  done
  printf '%s\n' -
}

log "running (each ${duration} after ${warmup} warm-up, concurrency $concurrency${server_pin[*]:+, server on CPU 0, harness on CPU 1})"
load ceiling-sign -scenario ceiling-sign -client-secret unused ${ceiling_pin[@]+"${ceiling_pin[@]}"}
load cc -scenario cc -client-secret "$cc_secret"
load refresh -scenario refresh -web-client-secret "$web_secret"
load "refresh, no id_token" -scenario refresh -web-client-id bench-web-lean -web-client-secret "$lean_secret" -refresh-id-token=false
load introspect -scenario introspect -client-secret "$cc_secret"
load ceiling-static -scenario ceiling-static ${ceiling_pin[@]+"${ceiling_pin[@]}"}
load discovery -scenario discovery
load jwks -scenario jwks
half=$(awk -v r="$(field cc req/s)" 'BEGIN { printf "%.0f", r / 2 }')
((half > 0)) || die "cc measured no successful requests: cannot run at half peak"
load "cc @ half peak" -scenario cc -client-secret "$cc_secret" -rate "$half"
half=$(awk -v r="$(field refresh req/s)" 'BEGIN { printf "%.0f", r / 2 }')
((half > 0)) || die "refresh measured no successful requests: cannot run at half peak"
load "refresh @ half peak" -scenario refresh -web-client-secret "$web_secret" -rate "$half"
half=$(awk -v r="$(field "refresh, no id_token" req/s)" 'BEGIN { printf "%.0f", r / 2 }')
((half > 0)) || die "refresh, no id_token measured no successful requests: cannot run at half peak"
load "refresh, no id_token @ half peak" -scenario refresh -web-client-id bench-web-lean -web-client-secret "$lean_secret" \
  -refresh-id-token=false -rate "$half"

sleep 3
idle=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$SERVER_PID/status")
hwm=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$SERVER_PID/status")

log "results ($store_desc, $(go version | cut -d' ' -f3), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $([[ $pin == 1 ]] && echo pinned || echo unpinned))"
echo
echo "| scenario | req/s | p50 | p99 | errors | server CPU (cores) | harness CPU | server max RSS in run | server peak RSS (VmHWM) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for label in "${order[@]}"; do
  name=$label
  [[ $label == *"@ half peak" ]] && name="$label ($(field "$label" rate) req/s offered, $(field "$label" late) late sends)"
  [[ $label == ceiling-sign ]] && name="ceiling-sign (bare ES256 signer, own process)"
  [[ $label == ceiling-static ]] && name="ceiling-static (bare handler writing fixed bytes, own process)"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s MB | %s MB |\n' "$name" \
    "$(field "$label" req/s)" "$(field "$label" p50)" "$(field "$label" p99)" "$(field "$label" errors)" \
    "$(field "$label" server_cpu)" "$(field "$label" client_cpu)" "$(field "$label" rss_max_mb)" "$(field "$label" hwm_mb)"
done
echo
awk -v cc="$(field cc req/s)" -v ceil="$(field ceiling-sign req/s)" \
  'BEGIN { if (ceil > 0) printf "cc / ceiling-sign: %.2f (%.0f%% of the bare signer)\n", cc / ceil, 100 * cc / ceil }'
awk -v d="$(field discovery req/s)" -v j="$(field jwks req/s)" -v ceil="$(field ceiling-static req/s)" \
  'BEGIN { if (ceil > 0) printf "discovery / ceiling-static: %.2f, jwks / ceiling-static: %.2f (target 0.80)\n", d / ceil, j / ceil }'
awk -v r="$(field refresh req/s)" -v ceil="$(field ceiling-sign req/s)" \
  'BEGIN { if (ceil > 0) printf "refresh / ceiling-sign: %.2f (a refresh signs two tokens and rotates in one transaction)\n", r / ceil }'
awk -v r="$(field "refresh, no id_token" req/s)" -v ceil="$(field ceiling-sign req/s)" \
  'BEGIN { if (ceil > 0) printf "refresh without id_token / ceiling-sign: %.2f (one signature)\n", r / ceil }'
awk -v i="$(field introspect req/s)" -v ceil="$(field ceiling-static req/s)" \
  'BEGIN { if (ceil > 0) printf "introspect / ceiling-static: %.2f\n", i / ceil }'
echo "p99 at half the cc peak: $(field "cc @ half peak" p99) (target < 10 ms)"
echo "p99 at half the refresh peak: $(field "refresh @ half peak" p99) (target < 20 ms)"
echo "p99 at half the refresh peak without id_token: $(field "refresh, no id_token @ half peak" p99) (target < 20 ms)"
echo "server idle RSS 3 s after the runs: $idle MB (VmHWM $hwm MB)"

warnings=$(grep -E '"level":"(WARN|ERROR)"' "$LOG" | sed -n 's/.*"msg":"\([^"]*\)".*/\1/p' | sort | uniq -c || true)
if [[ -n $warnings ]]; then
  echo
  echo "server log warnings/errors (count, message):"
  printf '%s\n' "$warnings" | sed 's/^/    /'
fi
echo
if ((failed)); then
  die "some requests failed under load (details above, from bench/load)"
fi
