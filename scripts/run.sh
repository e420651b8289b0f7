#!/usr/bin/env bash
# `make run`: the platform in the foreground on the embedded default (SQLite under var/ and a
# filesystem Celery broker), unless DATABASE_URL / REDIS_URL point elsewhere. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

var_dir="${CPAAS_VAR_DIR:-var}"
mkdir -p "$var_dir"

# A development server: DEBUG on. With no SECRET_KEY, the settings make one once and keep it in
# var/secret_key (git-ignored), so `manage.py …` in another terminal signs with the same key.
export DEBUG="${DEBUG:-1}"

echo "==> Database: ${DATABASE_URL:-SQLite in $var_dir/cpaas.sqlite3}"
echo "==> Broker:   ${CELERY_BROKER_URL:-${REDIS_URL:-the filesystem, in $var_dir/broker}}"
exec .venv/bin/python manage.py runplatform
