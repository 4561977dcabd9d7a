# Helpers sourced by scripts/test and scripts/demo: make sure the services tests use are up.
# shellcheck shell=bash

_can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
_apt_updated=
_apt_install() {
  _can_apt || return 1
  if [ -z "$_apt_updated" ]; then apt-get update -qq >/dev/null 2>&1 || true; _apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}

ensure_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then return 0; fi
  command -v redis-server >/dev/null 2>&1 || _apt_install redis-server redis-tools || true
  if command -v redis-server >/dev/null 2>&1; then
    mkdir -p /tmp/sepsms-redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /tmp/sepsms-redis --logfile /tmp/sepsms-redis/redis.log >/dev/null
    for _ in $(seq 1 50); do
      redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return 0
      sleep 0.1
    done
  fi
  echo "error: Redis is needed on 127.0.0.1:6379 (or set REDIS_URL)" >&2
  return 1
}

ensure_postgres() {
  if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; then return 0; fi
  command -v pg_ctlcluster >/dev/null 2>&1 || _apt_install postgresql || return 1
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  [ -n "$version" ] || return 1
  # Debian's default wants a password over TCP; the tests connect as postgres without one.
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  if [ -w "$hba" ] && ! grep -q "sepsms-tests" "$hba"; then
    sed -i '1i host all postgres 127.0.0.1/32 trust # sepsms-tests' "$hba"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
  for _ in $(seq 1 50); do
    pg_isready -q -h 127.0.0.1 -p 5432 && return 0
    sleep 0.2
  done
  return 1
}

ensure_gettext() {
  command -v msgfmt >/dev/null 2>&1 || _apt_install gettext \
    || echo "notice: gettext not installed; the translation completeness test will fail" >&2
}

ensure_openssl() {
  command -v openssl >/dev/null 2>&1 || _apt_install openssl \
    || echo "notice: openssl not installed; the TLS tests will fail" >&2
}

ensure_wrk() {  # the HTTP load generator the gunicorn benchmarks' smoke tests drive
  command -v wrk >/dev/null 2>&1 || _apt_install wrk || echo "notice: wrk not installed; the gunicorn benchmarks' smoke tests are skipped" >&2
}

ensure_chromium() {
  # A Thai font, or the Thai pages' screenshots show boxes instead of letters.
  if [ ! -d /usr/share/fonts/truetype/tlwg ]; then _apt_install fonts-thai-tlwg || true; fi
  if command -v chromium >/dev/null 2>&1 || [ -n "${CHROMIUM_PATH:-}" ]; then return 0; fi
  _apt_install chromium || echo "notice: Chromium not installed; browser tests will fail" >&2
}
