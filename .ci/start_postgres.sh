#!/usr/bin/env bash
# Start the local PostgreSQL 15 cluster and create the test database; print nothing on success.
# The tests read ADOR_TEST_PG_URL from .ci/pg_url when it exists and skip PostgreSQL otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
rm -f .ci/pg_url
command -v pg_ctlcluster >/dev/null 2>&1 || { echo "postgresql not installed; PG tests skip"; exit 0; }
version=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
[ -n "$version" ] || exit 0
pg_lsclusters -h 2>/dev/null | grep -q "^$version main" || pg_createcluster "$version" main >/dev/null
pg_ctlcluster "$version" main start 2>/dev/null || true
for _ in $(seq 1 30); do
  su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && break
  sleep 1
done
su postgres -c "psql -qc \"DO \\\$\\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='ador') THEN CREATE ROLE ador LOGIN PASSWORD 'ador' CREATEDB; END IF; END \\\$\\\$;\"" >/dev/null
echo "postgresql://ador:ador@127.0.0.1:5432/postgres" > .ci/pg_url
