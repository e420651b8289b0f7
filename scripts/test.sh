#!/usr/bin/env bash
# `make test`: ruff, then the whole test suite against real PostgreSQL and Redis.
#
# Uses DATABASE_URL / REDIS_URL when set (defaults: postgres://postgres@127.0.0.1:5432/cpaas and
# redis://127.0.0.1:6379/15). A local server that is not reachable is started, and installed with
# apt-get first if it is missing. Arguments are passed to pytest (e.g. scripts/test.sh tests/core).
# Exits non-zero on any failure, including a run that collects no tests.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/cpaas}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/15}"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

step() { printf '\n==> %s\n' "$*"; }
fail() { printf '\nmake test: %s\n' "$*" >&2; exit 1; }

# "host port" of a URL, with a default port.
endpoint() {
  "$PY" -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(p.hostname or "127.0.0.1", p.port or sys.argv[2])' "$1" "$2"
}
reachable() {
  "$PY" -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()' "$1" "$2" 2>/dev/null
}
is_local() { case "$1" in 127.0.0.1 | localhost | ::1) return 0 ;; *) return 1 ;; esac }
wait_for() { # name host port
  for _ in $(seq 1 30); do
    if reachable "$2" "$3"; then echo "$1 is up on $2:$3"; return 0; fi
    sleep 1
  done
  fail "$1 did not come up on $2:$3"
}

apt_updated=0
apt_install() {
  step "Installing $* with apt-get"
  if [ "$apt_updated" -eq 0 ]; then
    $SUDO apt-get update -qq || fail "apt-get update failed"
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" || fail "could not install $*"
}

ensure_postgres() {
  local host port version installed=0
  read -r host port < <(endpoint "$DATABASE_URL" 5432)
  if reachable "$host" "$port"; then echo "PostgreSQL is up on $host:$port"; return; fi
  is_local "$host" || fail "PostgreSQL at $host:$port (DATABASE_URL) is not reachable"
  if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    apt_install postgresql
    installed=1
  fi
  version="$(ls /etc/postgresql | sort -V | tail -n 1)"
  if [ "$installed" -eq 1 ]; then
    # A server we just installed for the tests: let local TCP clients in without a password, as
    # the default DATABASE_URL (postgres://postgres@127.0.0.1) expects.
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    printf 'host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n' | $SUDO tee "$hba.new" >/dev/null
    $SUDO sh -c "cat '$hba' >>'$hba.new' && mv '$hba.new' '$hba'"
  fi
  step "Starting PostgreSQL $version"
  if reachable "$host" "$port"; then echo "PostgreSQL is up on $host:$port"; return; fi
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for PostgreSQL "$host" "$port"
}

ensure_redis() {
  local host port
  read -r host port < <(endpoint "$REDIS_URL" 6379)
  if reachable "$host" "$port"; then echo "Redis is up on $host:$port"; return; fi
  is_local "$host" || fail "Redis at $host:$port (REDIS_URL) is not reachable"
  command -v redis-server >/dev/null || apt_install redis-server
  if reachable "$host" "$port"; then echo "Redis is up on $host:$port"; return; fi
  step "Starting Redis on port $port"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no >/dev/null
  wait_for Redis "$host" "$port"
}

ensure_chromium() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    echo "Chromium and chromedriver are installed"
  else
    apt_install chromium chromium-driver
  fi
}

# The third-party SIP peers the voice tests drive (tests/support/sipua.py, kamailio.py): baresip as
# the far-end phone, Kamailio as registrar and proxy (and the SIP edge, cpaas/sip_edge), espeak-ng and sox to make and measure audio.
ensure_sip_peers() {
  local missing=()
  command -v baresip >/dev/null || missing+=(baresip-core)
  command -v kamailio >/dev/null || missing+=(kamailio)
  # the SIP edge's Kamailio reads and writes our PostgreSQL (cpaas/sip_edge, decision 1121)
  [ -e /usr/lib/x86_64-linux-gnu/kamailio/modules/db_postgres.so ] || missing+=(kamailio-postgres-modules)
  command -v espeak-ng >/dev/null || missing+=(espeak-ng)
  command -v sox >/dev/null || missing+=(sox)
  # Play of MP3 URLs: sox decodes MP3 with this format module.
  dpkg -s libsox-fmt-mp3 >/dev/null 2>&1 || missing+=(libsox-fmt-mp3)
  if [ "${#missing[@]}" -eq 0 ]; then
    echo "baresip, kamailio, espeak-ng, sox and its MP3 module are installed"
  else
    apt_install --no-install-recommends "${missing[@]}"
  fi
}

# The RTC media server the RTC tests start on free loopback ports (tests/rtc/conftest.py, cpaas/rtc).
ensure_media_server() {
  if command -v janus >/dev/null; then
    echo "janus is installed"
  else
    apt_install --no-install-recommends janus
  fi
}

started=$SECONDS
step "Checking the services the tests need"
ensure_postgres
ensure_redis
ensure_chromium
ensure_sip_peers
ensure_media_server

step "ruff check ."
.venv/bin/ruff check .

step "pytest (DATABASE_URL=$DATABASE_URL REDIS_URL=$REDIS_URL)"
status=0
"$PY" -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then fail "pytest collected no tests"; fi
if [ "$status" -ne 0 ]; then fail "pytest failed (exit $status)"; fi

step "All checks passed in $((SECONDS - started)) s"
