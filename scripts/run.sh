#!/usr/bin/env bash
# `make run`: the platform in the foreground. Without DATABASE_URL / REDIS_URL it starts the
# embedded PostgreSQL and Redis (pip packages, data under var/; decision 0900). Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."

var_dir="${CPAAS_VAR_DIR:-var}"
mkdir -p "$var_dir"

# A development server: DEBUG on. With no SECRET_KEY, the settings make one once and keep it in
# var/secret_key (git-ignored), so `manage.py …` in another terminal signs with the same key.
export DEBUG="${DEBUG:-1}"

echo "==> Database: ${DATABASE_URL:-embedded PostgreSQL, data in $var_dir/postgres}"
echo "==> Redis:    ${REDIS_URL:-embedded Redis, data in $var_dir/redis}"
exec .venv/bin/python manage.py runplatform
