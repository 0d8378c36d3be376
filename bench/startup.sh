#!/usr/bin/env bash
# bench/startup.sh: cold start time and idle memory of the gatehouse server.
#
# Usage: bench/startup.sh [runs]        (runs default 5)
#
# Builds ./cmd/gatehouse into a temp dir (never into the repo), then `runs`
# times: fresh data dir, start
#   gatehouse serve --data-dir D --listen 127.0.0.1:P --issuer http://127.0.0.1:P
# and time from exec until GET /.well-known/openid-configuration answers 200
# (polled with curl every ~10 ms, so add a few ms of resolution); report
# min/median/max. Then one more start: wait ready, 1000 requests (discovery
# and JWKS alternately, one keep-alive curl), 5 s idle, VmRSS and VmHWM from
# /proc/PID/status. Everything runs on loopback; the temp dir and server are
# removed at exit, also on failure or Ctrl-C.
#
# Env: GHBENCH_SERVE_ARGS  extra arguments for `gatehouse serve`
#      GHBENCH_IDLE        idle seconds before reading memory (5)
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=../scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"

export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null 2>&1 || die "go not found on PATH or in /usr/local/go/bin"
command -v curl >/dev/null 2>&1 || die "curl not found (apt-get install curl)"

runs=${1:-5}
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "runs must be a positive integer, got '$runs'"
idle=${GHBENCH_IDLE:-5}
read -r -a serve_args <<<"${GHBENCH_SERVE_ARGS:-}"

SERVER_PID=""
PORT=""
BASE=""
TMP=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench.XXXXXX")

stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  local i rc=0
  kill -TERM "$SERVER_PID" 2>/dev/null
  for ((i = 0; i < 100; i++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    warn "server pid $SERVER_PID ignored SIGTERM for 10 s; killing it"
    kill -KILL "$SERVER_PID" 2>/dev/null
  fi
  wait "$SERVER_PID" 2>/dev/null || rc=$?
  SERVER_PID=""
  return "$rc"
}
bench_cleanup() {
  stop_server
  rm -rf "$TMP"
}
install_traps
add_cleanup bench_cleanup

# start_server NAME: start on a free port with a fresh data dir $TMP/NAME.
start_server() {
  local d=$TMP/$1
  mkdir -p "$d"
  PORT=$(free_port 18080) || die "no free port from 18080"
  BASE=http://127.0.0.1:$PORT
  "$TMP/gatehouse" serve --data-dir "$d" --listen "127.0.0.1:$PORT" --issuer "$BASE" \
    ${serve_args[@]+"${serve_args[@]}"} </dev/null >"$d.log" 2>&1 &
  SERVER_PID=$!
}

# wait_ready NAME: poll discovery until 200 (30 s at most).
wait_ready() {
  local deadline=$(($(now_ms) + 30000)) code
  while :; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$BASE/.well-known/openid-configuration" || true)
    [[ $code == 200 ]] && return 0
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      tail -n 20 "$TMP/$1.log" >&2
      die "server exited before it was ready (log above)"
    fi
    if (($(now_ms) > deadline)); then
      tail -n 20 "$TMP/$1.log" >&2
      die "server not ready within 30 s (last HTTP status $code)"
    fi
    sleep 0.01
  done
}

log "building ./cmd/gatehouse into $TMP"
go build -o "$TMP/gatehouse" ./cmd/gatehouse

log "cold start: $runs runs (exec until discovery answers 200)"
times=()
for ((i = 1; i <= runs; i++)); do
  t0=$(now_ms)
  start_server "run$i"
  wait_ready "run$i"
  t=$(($(now_ms) - t0))
  times+=("$t")
  stop_server || warn "run $i: server exited with status $? on SIGTERM"
  info "run $i: $t ms"
done
mapfile -t sorted < <(printf '%s\n' "${times[@]}" | sort -n)
n=${#sorted[@]}
if ((n % 2)); then
  median=${sorted[n / 2]}
else
  median=$(((sorted[n / 2 - 1] + sorted[n / 2]) / 2))
fi

log "memory: start, 1000 requests, ${idle} s idle"
start_server mem
wait_ready mem
jwks=$(curl -fsS "$BASE/.well-known/openid-configuration" | sed -n 's/.*"jwks_uri" *: *"\([^"]*\)".*/\1/p')
[[ -n $jwks ]] || jwks=$BASE/.well-known/jwks.json
for ((i = 0; i < 500; i++)); do
  printf 'url = "%s"\noutput = "/dev/null"\n' "$BASE/.well-known/openid-configuration" "$jwks"
done >"$TMP/curl.cfg"
codes=$(curl -sS -K "$TMP/curl.cfg" -w '%{http_code}\n' | sort | uniq -c | awk '{printf "%s%s x%s", sep, $2, $1; sep=", "}')
info "1000 requests (discovery + $jwks): HTTP $codes"
sleep "$idle"
status=/proc/$SERVER_PID/status
[[ -r $status ]] || die "server (pid $SERVER_PID) is gone"
rss=$(awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "$status")
hwm=$(awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "$status")
stop_server || warn "server exited with status $? on SIGTERM"

log "results ($runs runs, $(go version | cut -d' ' -f3), $(nproc) cores)"
info "cold start to discovery 200: min ${sorted[0]} ms, median $median ms, max ${sorted[n - 1]} ms"
info "after 1000 requests + ${idle} s idle: VmRSS $rss MiB, VmHWM (peak) $hwm MiB"
