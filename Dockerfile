# TRT node. Build: docker build -t trt-node .   Run: see README (settings are env variables).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    TRT_DATA_DIR=/data TRT_CALLBACK_LISTEN=0.0.0.0:8080 TRT_STATUS_LISTEN=127.0.0.1:8081

RUN useradd --create-home --uid 10001 trt && mkdir -p /data && chown trt /data
WORKDIR /app
COPY setup.cfg pyproject.toml README.md run_node.py ./
COPY trt_actors ./trt_actors
COPY gateways ./gateways
COPY supervision ./supervision
COPY sql ./sql
COPY sandbox ./sandbox
COPY tools ./tools
RUN pip install --no-cache-dir .

USER trt
VOLUME ["/data"]
EXPOSE 8080
# SIGTERM stops intake first, lets in-flight sends finish, closes the pool (exit 0).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8081/healthz', timeout=2)" || exit 1
ENTRYPOINT ["trt-node"]
CMD ["run"]
