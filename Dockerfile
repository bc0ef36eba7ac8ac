# cnnviz dashboard: TensorFlow's own GPU image (runs on CPU-only hosts too), gunicorn, non-root.
# BASE is for CI only, which cannot pull from Docker Hub (see harness/image.py); deployments keep the default.
ARG BASE=tensorflow/tensorflow:2.21.0-gpu
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    CNNVIZ_HOME=/opt/cnnviz \
    CNNVIZ_HOST=0.0.0.0 CNNVIZ_PORT=8050 \
    CNNVIZ_MODEL_DIR=/data/models CNNVIZ_CACHE_DIR=/data/cache CNNVIZ_DATA_DIR=/data/datasets \
    TF_FORCE_GPU_ALLOW_GROWTH=true TF_CPP_MIN_LOG_LEVEL=2
# Listening on all interfaces inside the container is how Docker reaches the app; compose publishes
# the port on the host's loopback only. Without auth, cnnviz refuses a non-loopback host unless told
# so: set CNNVIZ_AUTH_USER and CNNVIZ_AUTH_PASSWORD before publishing the port any wider.
ENV CNNVIZ_ALLOW_OPEN=1

WORKDIR /opt/cnnviz
COPY requirements.txt .
# TensorFlow comes with the base image (same version as requirements.txt pins).
RUN grep -v '^tensorflow' requirements.txt > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt && rm /tmp/requirements.txt

COPY cnnviz/ cnnviz/
COPY app/ app/
COPY assets/ assets/
COPY models/default.keras models/default.json models/
COPY docker/entrypoint.sh /usr/local/bin/cnnviz-entrypoint

RUN useradd --create-home --uid 10001 cnnviz \
 && mkdir -p /data/models /data/cache /data/datasets \
 && chown -R cnnviz:cnnviz /data
USER cnnviz

VOLUME ["/data/models", "/data/cache"]
EXPOSE 8050
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8050/health', timeout=4).status != 200)"]
ENTRYPOINT ["cnnviz-entrypoint"]
# One gunicorn worker with threads: it shares one engine process (and one copy of the model).
CMD ["gunicorn", "--workers", "1", "--threads", "8", "--timeout", "300", "--bind", "0.0.0.0:8050", "app.wsgi:server"]
