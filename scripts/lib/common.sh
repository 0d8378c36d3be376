# shellcheck shell=bash
# Shared helpers for scripts/test and bench/*.sh: logging, an exit-time
# cleanup stack, interruptible steps, free ports and apt-get installs.
# Source it (after `set -euo pipefail`); it defines functions and globals only.

GH_CLEANUPS=()  # functions run (last first) when the script exits, however it exits
GH_CHILD=""     # pid (= process group) of the step running now, if any
GH_APT_UPDATED=""

log()  { printf '==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf '==> WARNING: %s\n' "$*" >&2; }
die()  { printf '==> ERROR: %s\n' "$*" >&2; exit 1; }

# add_cleanup FUNC: run FUNC at exit (normal exit, failure, SIGINT/SIGTERM/SIGHUP).
add_cleanup() { GH_CLEANUPS+=("$1"); }

# kill_group PID: SIGTERM the process group PID, SIGKILL it after 10 s, reap it.
kill_group() {
  local pid=$1 i
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

_gh_on_exit() {
  local rc=$? i
  set +e
  trap '' INT TERM HUP
  if [[ -n $GH_CHILD ]]; then
    kill_group "$GH_CHILD"
    GH_CHILD=""
  fi
  for ((i = ${#GH_CLEANUPS[@]} - 1; i >= 0; i--)); do
    "${GH_CLEANUPS[i]}"
  done
  exit "$rc"
}

# install_traps: call once, early. The EXIT trap runs the cleanup stack; the
# signal traps turn SIGINT/SIGTERM/SIGHUP into an exit so that it runs.
install_traps() {
  trap _gh_on_exit EXIT
  trap 'echo >&2; warn "interrupted (SIGINT)"; exit 130' INT
  trap 'warn "terminated (SIGTERM)"; exit 143' TERM
  trap 'warn "hangup (SIGHUP)"; exit 129' HUP
}

# run_interruptible CMD...: run CMD in its own process group and wait for it.
# A signal to this script then interrupts the wait at once, and the exit trap
# kills the whole group (go test and its test binaries), not just CMD.
run_interruptible() {
  local rc=0
  set -m
  "$@" </dev/null &
  GH_CHILD=$!
  set +m
  wait "$GH_CHILD" || rc=$?
  GH_CHILD=""
  return "$rc"
}

# port_in_use PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port START: print the first port >= START that nothing listens on.
free_port() {
  local p
  for ((p = $1; p < $1 + 200 && p < 65536; p++)); do
    if ! port_in_use "$p"; then
      printf '%s\n' "$p"
      return 0
    fi
  done
  return 1
}

# now_ms: wall clock in milliseconds (no fork with bash 5's EPOCHREALTIME).
now_ms() {
  if [[ -n ${EPOCHREALTIME:-} ]]; then
    local us=${EPOCHREALTIME//[!0-9]/}
    printf '%s\n' "$((us / 1000))"
  else
    printf '%s\n' "$(($(date +%s%N) / 1000000))"
  fi
}

# apt_install PKG...: install Debian packages non-interactively (root, or
# passwordless sudo). Runs `apt-get update` once per script run first.
apt_install() {
  local sudo=() opts=(-q -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=300)
  command -v apt-get >/dev/null 2>&1 ||
    die "need Debian package(s) $* but apt-get is not available: install them by hand"
  if ((EUID != 0)); then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      die "need Debian package(s) $*: run as root (or with passwordless sudo), or install them by hand"
    fi
  fi
  log "apt-get: installing $*"
  if [[ -z $GH_APT_UPDATED ]]; then
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" update </dev/null ||
      die "apt-get update failed"
    GH_APT_UPDATED=1
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" install -y --no-install-recommends "$@" </dev/null ||
    die "apt-get install $* failed"
}

# mask_url URL: URL with any password replaced by ***, for logs.
mask_url() {
  sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"
}
