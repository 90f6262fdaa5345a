#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh: the database and the uploads directory, together.
#   scripts/restore.sh BACKUP_FOLDER
# Stop the web service and the workers first (systemctl stop 'dingkao-*'); start them again
# after. It reads DATABASE_URL and UPLOAD_DIR as backup.sh does. The database's tables are
# replaced by the backup's; the current uploads directory is kept beside the restored one as
# UPLOAD_DIR.before-restore-<time> (remove it once the restore is checked).
set -euo pipefail
folder=${1:?usage: restore.sh BACKUP_FOLDER}
env_file=${DINGKAO_ENV_FILE:-/etc/dingkao/dingkao.env}
if [ -z "${DATABASE_URL:-}" ] && [ -r "$env_file" ]; then set -a; . "$env_file"; set +a; fi
: "${DATABASE_URL:?set DATABASE_URL (or DINGKAO_ENV_FILE)}"
: "${UPLOAD_DIR:?set UPLOAD_DIR (or DINGKAO_ENV_FILE)}"
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$here/.venv/bin/python}
[ -x "$python" ] || python=python3
[ -f "$folder/MANIFEST" ] || { echo "restore.sh: $folder has no MANIFEST: not a complete backup" >&2; exit 2; }
(cd "$folder" && grep -E '^[0-9a-f]{64}  ' MANIFEST | sha256sum --check --quiet) \
  || { echo "restore.sh: the backup's files do not match its MANIFEST" >&2; exit 2; }
kind=$(sed -n 's/^database=//p' "$folder/MANIFEST")

case "$kind" in
  postgresql)
    url="postgresql://${DATABASE_URL#*://}"
    # Every table of the app is dropped and made again from the dump, in one transaction.
    pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction \
      --exit-on-error --dbname="$url" "$folder/database.dump" ;;
  sqlite)
    "$python" - "$folder/database.sqlite3" "${DATABASE_URL#sqlite:///}" <<'PY'
import sqlite3, sys
source, target = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2])
with target:
    source.backup(target)
PY
    ;;
  *) echo "restore.sh: unknown database kind in MANIFEST: $kind" >&2; exit 2 ;;
esac

staging="${UPLOAD_DIR%/}.restoring-$$"
rm -rf "$staging"
mkdir -p "$staging"
tar -C "$staging" -xzf "$folder/uploads.tar.gz"
if [ -d "$UPLOAD_DIR" ]; then mv "$UPLOAD_DIR" "${UPLOAD_DIR%/}.before-restore-$(date +%Y%m%d-%H%M%S)"; fi
mv "$staging" "$UPLOAD_DIR"
echo "restored $folder"
