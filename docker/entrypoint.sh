#!/bin/sh
# Seeds an empty model volume with the default model, then runs the command (gunicorn or a Celery worker).
set -e
home="${CNNVIZ_HOME:-/opt/cnnviz}"
models="${CNNVIZ_MODEL_DIR:-/data/models}"
mkdir -p "$models" "${CNNVIZ_CACHE_DIR:-/data/cache}"
if [ ! -e "$models/default.keras" ]; then
  cp "$home/models/default.keras" "$home/models/default.json" "$models/"
fi
exec "$@"
