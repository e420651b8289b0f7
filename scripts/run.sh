#!/usr/bin/env bash
# `make run`: the platform in the foreground on the embedded default (SQLite under var/ and a
# filesystem Celery broker), unless DATABASE_URL / REDIS_URL point elsewhere. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

var_dir="${CPAAS_VAR_DIR:-var}"
mkdir -p "$var_dir"

# A development server: DEBUG on, and a secret key made once and kept in var/ (git-ignored).
export DEBUG="${DEBUG:-1}"
if [ -z "${SECRET_KEY:-}" ]; then
  if [ ! -s "$var_dir/secret_key" ]; then
    (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))' >"$var_dir/secret_key")
  fi
  SECRET_KEY="$(cat "$var_dir/secret_key")"
  export SECRET_KEY
fi

echo "==> Database: ${DATABASE_URL:-SQLite in $var_dir/cpaas.sqlite3}"
echo "==> Broker:   ${CELERY_BROKER_URL:-${REDIS_URL:-the filesystem, in $var_dir/broker}}"
exec .venv/bin/python manage.py runplatform
