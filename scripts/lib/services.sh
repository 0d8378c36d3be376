# shellcheck shell=bash
# ensure_* functions of scripts/test: each makes one service the tests need
# reachable on loopback and exports the variable the Go tests read. Order of
# preference: the variable as given (if reachable), the machine's own service
# on its standard port, else a private server in a temp dir that is stopped
# and deleted at exit. Needs common.sh (and its install_traps) first.
#
# Adding a service (e.g. GHTEST_CHROMIUM later) is one more function

: "${GHTEST_PG_PROBE_PORT:=5432}"
: "${GHTEST_REDIS_PROBE_PORT:=6379}"
GH_PG_OWN_PORT_BASE=55432
GH_REDIS_OWN_PORT_BASE=56379

# ---------------------------------------------------------------- PostgreSQL

_PG_DIR=""     # temp dir of our own cluster (data/, sock/, logs)
_PG_BIN=""     # server bindir used for it
_PG_RUNAS=()   # runuser prefix when root
_PG_PORT=""

# _pg_ok URL: true if URL accepts `select 1` without asking for a password.
_pg_ok() {
  [[ $(PGCONNECT_TIMEOUT=5 psql -w -X -q -At -d "$1" -c 'select 1' 2>/dev/null </dev/null) == 1 ]]
}

_pg_need_client() {
  command -v psql >/dev/null 2>&1 && command -v pg_isready >/dev/null 2>&1 && return 0
  apt_install postgresql-client
  command -v psql >/dev/null 2>&1 || die "psql still missing after installing postgresql-client"
}

# _pg_find_bindir: print the newest Debian server bindir (or the one on PATH).
_pg_find_bindir() {
  local d
  d=$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
  if [[ -x $d ]]; then
    dirname "$d"
    return 0
  fi
  d=$(command -v initdb 2>/dev/null) || return 1
  [[ -x $(dirname "$d")/pg_ctl ]] || return 1
  dirname "$d"
}

_pg_use() {
  export GHTEST_POSTGRES_URL=$1
  log "postgres: $2 ($(mask_url "$1"))"
}

# _pg_try_local PORT: use the server on 127.0.0.1:PORT if it takes user
# postgres without a password; create database test there if missing.
_pg_try_local() {
  local port=$1 base="postgres://postgres@127.0.0.1:$1"
  local opts="?sslmode=disable"
  if ! pg_isready -q -h 127.0.0.1 -p "$port" -t 3 </dev/null; then
    info "postgres: nothing ready on 127.0.0.1:$port"
    return 1
  fi
  if _pg_ok "$base/test$opts"; then
    _pg_use "$base/test$opts" "using 127.0.0.1:$port"
    return 0
  fi
  if _pg_ok "$base/postgres$opts"; then
    PGCONNECT_TIMEOUT=5 psql -w -X -q -d "$base/postgres$opts" -c 'CREATE DATABASE test' </dev/null >/dev/null 2>&1 || true
    if _pg_ok "$base/test$opts"; then
      _pg_use "$base/test$opts" "using 127.0.0.1:$port, created database test"
      return 0
    fi
  fi
  info "postgres: 127.0.0.1:$port is up but does not let user postgres into database test without a password"
  return 1
}

_pg_stop_own() {
  [[ -n $_PG_DIR ]] || return 0
  local pid
  if [[ -f $_PG_DIR/data/postmaster.pid ]]; then
    if ! (cd / && "${_PG_RUNAS[@]}" "$_PG_BIN/pg_ctl" -D "$_PG_DIR/data" -m fast -w -t 20 -s stop) >/dev/null 2>&1; then
      pid=$(head -n 1 "$_PG_DIR/data/postmaster.pid" 2>/dev/null)
      [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null
      sleep 1
    fi
  fi
  rm -rf "$_PG_DIR"
  info "postgres: stopped own server${_PG_PORT:+ on 127.0.0.1:$_PG_PORT}, removed $_PG_DIR"
  _PG_DIR=""
}

_pg_start_own() {
  local tmp port attempt base
  _PG_BIN=$(_pg_find_bindir) || {
    apt_install postgresql
    _PG_BIN=$(_pg_find_bindir) || die "PostgreSQL server binaries (initdb, pg_ctl) not found even after apt-get install postgresql"
  }
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-test-pg.XXXXXX")
  _PG_DIR=$tmp
  add_cleanup _pg_stop_own
  if ((EUID == 0)); then
    # initdb and postgres refuse to run as root.
    id -u postgres >/dev/null 2>&1 || die "running as root, but there is no 'postgres' user to run PostgreSQL as"
    _PG_RUNAS=(runuser -u postgres --)
    chown postgres: "$tmp"
    if ! runuser -u postgres -- test -w "$tmp"; then
      # $TMPDIR is not reachable by user postgres: use /tmp instead.
      rm -rf "$tmp"
      tmp=$(mktemp -d /tmp/gatehouse-test-pg.XXXXXX)
      _PG_DIR=$tmp
      chown postgres: "$tmp"
    fi
  fi
  log "postgres: starting own server ($_PG_BIN) in $tmp"
  if ! (cd "$tmp" && "${_PG_RUNAS[@]}" "$_PG_BIN/initdb" -D "$tmp/data" -U postgres -A trust -E UTF8 --locale=C -N) >"$tmp/initdb.log" 2>&1; then
    tail -n 20 "$tmp/initdb.log" >&2
    die "postgres: initdb failed"
  fi
  (cd "$tmp" && "${_PG_RUNAS[@]}" mkdir -m 700 "$tmp/sock")
  port=$GH_PG_OWN_PORT_BASE
  for attempt in 1 2 3 4 5; do
    port=$(free_port "$port") || die "postgres: no free port from $port"
    if (cd "$tmp" && "${_PG_RUNAS[@]}" "$_PG_BIN/pg_ctl" -D "$tmp/data" -l "$tmp/postgres.log" -w -t 60 -s \
      -o "-c listen_addresses=127.0.0.1 -p $port -k '$tmp/sock' -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start) </dev/null >/dev/null 2>&1; then
      _PG_PORT=$port
      break
    fi
    if grep -qE 'could not bind|already in use|could not create any TCP/IP sockets' "$tmp/postgres.log" 2>/dev/null; then
      info "postgres: port $port was taken meanwhile (try $attempt), trying the next"
      port=$((port + 1))
      continue
    fi
    tail -n 20 "$tmp/postgres.log" >&2 || true
    die "postgres: could not start own server"
  done
  [[ -n $_PG_PORT ]] || die "postgres: could not find a free port to start on"
  base="postgres://postgres@127.0.0.1:$port"
  PGCONNECT_TIMEOUT=5 psql -w -X -q -d "$base/postgres?sslmode=disable" -c 'CREATE DATABASE test' </dev/null >/dev/null ||
    die "postgres: could not create database test on own server"
  _pg_ok "$base/test?sslmode=disable" || die "postgres: own server on port $port does not answer select 1"
  _pg_use "$base/test?sslmode=disable" "started own server on 127.0.0.1:$port"
}

# ensure_postgres: export a reachable GHTEST_POSTGRES_URL, or die.
ensure_postgres() {
  _pg_need_client
  local url=${GHTEST_POSTGRES_URL:-}
  if [[ -n $url ]]; then
    if _pg_ok "$url"; then
      _pg_use "$url" "using GHTEST_POSTGRES_URL"
      return 0
    fi
    warn "postgres: GHTEST_POSTGRES_URL=$(mask_url "$url") does not answer select 1; looking elsewhere"
  fi
  _pg_try_local "$GHTEST_PG_PROBE_PORT" && return 0
  _pg_start_own
}

# --------------------------------------------------------------------- Redis

_REDIS_DIR=""
_REDIS_PID=""
_REDIS_PORT=""

# _redis_ping HOST PORT: true if the server answers PING with PONG.
_redis_ping() {
  local host=${1#[}
  host=${host%]}
  if command -v redis-cli >/dev/null 2>&1; then
    [[ $(timeout 5 redis-cli -h "$host" -p "$2" ping 2>/dev/null </dev/null) == PONG ]]
  else
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "PING\r\n" >&3 && IFS= read -r l <&3 && [[ $l == +PONG* ]]' "$host" "$2" 2>/dev/null
  fi
}

_redis_stop_own() {
  [[ -n $_REDIS_DIR ]] || return 0
  local i
  if [[ -n $_REDIS_PID ]]; then
    kill -TERM "$_REDIS_PID" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
      kill -0 "$_REDIS_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$_REDIS_PID" 2>/dev/null
    wait "$_REDIS_PID" 2>/dev/null
  fi
  rm -rf "$_REDIS_DIR"
  info "redis: stopped own server${_REDIS_PORT:+ on 127.0.0.1:$_REDIS_PORT}, removed $_REDIS_DIR"
  _REDIS_DIR="" _REDIS_PID=""
}

# _redis_need_server: make sure a redis-server binary exists. Besides our own
# server, the Go tests that stop Redis or restart it empty start private
# ones (testsvc.StartRedis), even when a shared Redis is reachable.
_redis_need_server() {
  command -v redis-server >/dev/null 2>&1 && return 0
  apt_install redis-server
  command -v redis-server >/dev/null 2>&1 || die "redis-server not found even after apt-get install redis-server"
}

_redis_start_own() {
  local tmp port attempt i
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-test-redis.XXXXXX")
  _REDIS_DIR=$tmp
  add_cleanup _redis_stop_own
  log "redis: starting own server ($(command -v redis-server)) in $tmp"
  port=$GH_REDIS_OWN_PORT_BASE
  for attempt in 1 2 3 4 5; do
    port=$(free_port "$port") || die "redis: no free port from $port"
    # Own process group (set -m): a Ctrl-C meant for the tests does not reach
    # it; the exit trap stops it.
    set -m
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
      --dir "$tmp" --daemonize no --logfile "$tmp/redis.log" </dev/null >/dev/null 2>&1 &
    _REDIS_PID=$!
    set +m
    for ((i = 0; i < 100; i++)); do
      if _redis_ping 127.0.0.1 "$port"; then
        _REDIS_PORT=$port
        export GHTEST_REDIS_ADDR="127.0.0.1:$port"
        log "redis: started own server on $GHTEST_REDIS_ADDR (pid $_REDIS_PID)"
        return 0
      fi
      kill -0 "$_REDIS_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$_REDIS_PID" 2>/dev/null; then
      tail -n 20 "$tmp/redis.log" >&2 || true
      die "redis: own server on port $port did not answer PING within 10 s"
    fi
    wait "$_REDIS_PID" 2>/dev/null || true
    _REDIS_PID=""
    if grep -q 'already in use' "$tmp/redis.log" 2>/dev/null; then
      info "redis: port $port was taken meanwhile (try $attempt), trying the next"
      port=$((port + 1))
      continue
    fi
    tail -n 20 "$tmp/redis.log" >&2 || true
    die "redis: could not start own server"
  done
  die "redis: could not find a free port to start on"
}

# ensure_redis: export a reachable GHTEST_REDIS_ADDR, or die.
ensure_redis() {
  local addr=${GHTEST_REDIS_ADDR:-}
  _redis_need_server
  if [[ -n $addr ]]; then
    if _redis_ping "${addr%:*}" "${addr##*:}"; then
      log "redis: using GHTEST_REDIS_ADDR $addr"
      return 0
    fi
    warn "redis: GHTEST_REDIS_ADDR=$addr does not answer PING; looking elsewhere"
  fi
  if _redis_ping 127.0.0.1 "$GHTEST_REDIS_PROBE_PORT"; then
    export GHTEST_REDIS_ADDR="127.0.0.1:$GHTEST_REDIS_PROBE_PORT"
    log "redis: using $GHTEST_REDIS_ADDR"
    return 0
  fi
  info "redis: nothing answers PING on 127.0.0.1:$GHTEST_REDIS_PROBE_PORT"
  _redis_start_own
}

# ------------------------------------------------------------------ Chromium

# ensure_chromium: export GHTEST_CHROMIUM (a headless-capable Chromium for
# the browser tests): $GHTEST_CHROMIUM if executable, else `chromium` on
# PATH, else Debian's chromium package installed with apt-get.
ensure_chromium() {
  local bin=${GHTEST_CHROMIUM:-}
  if [[ -n $bin && -x $bin ]]; then
    log "chromium: using GHTEST_CHROMIUM $bin"
    return 0
  fi
  bin=$(command -v chromium || true)
  if [[ -z $bin ]]; then
    info "chromium: not installed; installing Debian's chromium"
    apt_install chromium
    bin=$(command -v chromium) || die "chromium: install failed"
  fi
  export GHTEST_CHROMIUM=$bin
  log "chromium: using $bin ($("$bin" --version 2>/dev/null | head -1))"
}
