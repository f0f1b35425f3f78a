# FraudLab fraud model service: two images from one Dockerfile (build context: repo root).
#
#   docker build --network host --target slim -t fraudlab/service:slim .   # LiteRT, ~50 MiB RSS
#   docker build --network host --target full -t fraudlab/service:full .   # + TensorFlow
#
# scripts/build_image.sh builds both and prints their sizes. Pass --target: stages are
# ordered so that the slim target never installs TensorFlow. Where no image registry is
# reachable, give a local base: --build-arg BASE_IMAGE=local/python:3.11-bookworm (any
# Debian-based image with python3 and python3-venv; all stages use the same base, since the
# virtualenv points at its interpreter). Works with BuildKit and the classic builder.

ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---- base: what every stage shares --------------------------------------------------------
FROM ${BASE_IMAGE} AS base
ENV LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# ---- builder: pinned dependencies into /opt/venv (no code, so code edits keep this cached) -
FROM base AS builder
# Plain PyPI, whatever pip config the machine has, over TLS checked against the system CA
# bundle. Behind a TLS-inspecting proxy, pass its CA certificate(s) as PEM text in
# EXTRA_CA_CERTS (scripts/build_image.sh passes the host's /usr/local/share/ca-certificates);
# they are added to the bundle pip uses in this stage only, never to a served image.
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG EXTRA_CA_CERTS=""
ENV PIP_CONFIG_FILE=/dev/null \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_DEFAULT_TIMEOUT=120 \
    PIP_CERT=/opt/pip-ca.pem
RUN cat /etc/ssl/certs/ca-certificates.crt > /opt/pip-ca.pem \
 && printf '%s\n' "$EXTRA_CA_CERTS" >> /opt/pip-ca.pem \
 && python3 -m venv /opt/venv
COPY service/requirements.txt /tmp/requirements/requirements.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements/requirements.txt

# ---- slim venv: the serving set, less what a CPU interpreter never loads ----------------
# pip and setuptools (not needed to serve), numpy's tests, and LiteRT's GPU accelerator, NPU
# compiler plugins and model-rewriting tool (~30 MB; the CPU Interpreter runs without them).
FROM builder AS venv-slim
RUN /opt/venv/bin/python -m pip uninstall -y -q pip setuptools \
 && rm -f /opt/venv/bin/pip* /opt/venv/bin/[Aa]ctivate* \
 && cd /opt/venv/lib/python3.11/site-packages \
 && rm -rf numpy/*/tests numpy/tests \
 && rm -f ai_edge_litert/libLiteRtWebGpuAccelerator.so ai_edge_litert/tools/apply_plugin_main \
 && find ai_edge_litert/vendors -name '*.so' -delete

# ---- runtime: user, settings, probe and command shared by both images --------------------
FROM base AS runtime
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin app
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    HOST=0.0.0.0 \
    PORT=8080
EXPOSE 8080
# No curl in the image: a standard-library probe of GET /ready (exit 0 on a 200 within 2 s).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "/app/service/healthcheck.py"]
USER 10001:10001
# Workers and threads come from service/gunicorn_conf.py; --cpus/--memory need no setting here.
CMD ["gunicorn", "-c", "python:service.gunicorn_conf", "service.wsgi:app"]

# ---- slim: the LiteRT serving image ------------------------------------------------------
FROM runtime AS slim
COPY --from=venv-slim /opt/venv /opt/venv
COPY service/ /app/service/
LABEL org.opencontainers.image.title="fraudlab-service" \
      org.opencontainers.image.description="FraudLab fraud model service (LiteRT runtime)"

# ---- builder-full / full: the "TensorFlow image" (MODEL_RUNTIME=tensorflow by default) ----
FROM builder AS builder-full
COPY service/requirements-full.txt /tmp/requirements/requirements-full.txt
RUN /opt/venv/bin/pip install -r /tmp/requirements/requirements-full.txt

FROM runtime AS full
COPY --from=builder-full /opt/venv /opt/venv
COPY service/ /app/service/
ENV MODEL_RUNTIME=tensorflow
LABEL org.opencontainers.image.title="fraudlab-service" \
      org.opencontainers.image.description="FraudLab fraud model service (TensorFlow runtime)"

# ---- default target: `docker build .` gives the slim image -------------------------------
FROM slim AS default
