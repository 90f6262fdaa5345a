#!/usr/bin/env bash
# Back up the database and the uploads directory together, into one new folder:
#   scripts/backup.sh [BACKUP_ROOT]        (default: $BACKUP_ROOT or /var/backups/dingkao)
# It reads DATABASE_URL and UPLOAD_DIR from the environment, or from the service's settings
# file ($DINGKAO_ENV_FILE, default /etc/dingkao/dingkao.env) when they are not set.
# PostgreSQL: pg_dump (custom format, consistent while the app runs). SQLite: the online
# backup API. Uploads: a tar of UPLOAD_DIR taken after the dump, so every file a row of the
# dump names is in it (a file uploaded during the backup may be in it without its row).
# The folder is complete only when it holds MANIFEST, written last.
set -euo pipefail
umask 077
env_file=${DINGKAO_ENV_FILE:-/etc/dingkao/dingkao.env}
if [ -z "${DATABASE_URL:-}" ] && [ -r "$env_file" ]; then set -a; . "$env_file"; set +a; fi
: "${DATABASE_URL:?set DATABASE_URL (or DINGKAO_ENV_FILE)}"
: "${UPLOAD_DIR:?set UPLOAD_DIR (or DINGKAO_ENV_FILE)}"
root=${1:-${BACKUP_ROOT:-/var/backups/dingkao}}
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$here/.venv/bin/python}
[ -x "$python" ] || python=python3
target="$root/dingkao-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$target"

case "$DATABASE_URL" in
  postgresql*|postgres*)
    url="postgresql://${DATABASE_URL#*://}"   # libpq's form: no "+psycopg2"
    pg_dump --format=custom --no-owner --no-privileges --file="$target/database.dump" "$url"
    kind=postgresql ;;
  sqlite:///*)
    "$python" - "${DATABASE_URL#sqlite:///}" "$target/database.sqlite3" <<'PY'
import sqlite3, sys
source, target = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2])
with target:
    source.backup(target)
PY
    kind=sqlite ;;
  *) echo "backup.sh: unsupported DATABASE_URL: ${DATABASE_URL%%:*}" >&2; exit 2 ;;
esac

tar -C "$UPLOAD_DIR" -czf "$target/uploads.tar.gz" .
files=$(tar -tzf "$target/uploads.tar.gz" | grep -vc '/$' || true)
{
  echo "created=$(date -Iseconds)"
  echo "database=$kind"
  echo "upload_files=$files"
  (cd "$target" && sha256sum database.* uploads.tar.gz)
} > "$target/MANIFEST.tmp"
mv "$target/MANIFEST.tmp" "$target/MANIFEST"
echo "$target"
