# CPU images of the retrieval service (default target) and of the Streamlit UI (--target ui).
#
#   docker build -t lodisc-api .
#   docker build -t lodisc-ui --target ui .
#   docker run -p 8000:8000 -v "$PWD/artifacts/model.onnx:/models/model.onnx:ro" \
#       -v "$PWD/artifacts/index:/index" -v "$GALLERY:$GALLERY:ro" lodisc-api
#
# The index records the absolute gallery folder it was built from (manifest "gallery_root"), so
# mount the gallery at that same path, or build the index inside the container (see
# docker-compose.yml). To bake a model and index into the image instead of mounting them, build
# the api-baked target with MODEL_FILE and INDEX_DIR pointing inside the build context.
# Nothing is downloaded at run time: every package is installed at build time.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app \
        --shell /usr/sbin/nologin app
WORKDIR /app


# The UI talks to the service over HTTP only: Streamlit, httpx and Pillow, no torch.
FROM base AS ui
COPY pyproject.toml /tmp/pyproject.toml
# The [ui] extra of pyproject.toml is the single list of the UI's requirements.
RUN python -c "import tomllib; deps = tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['optional-dependencies']['ui']; print('\n'.join(deps))" > /tmp/ui-requirements.txt \
    && pip install --no-cache-dir -r /tmp/ui-requirements.txt \
    && rm /tmp/pyproject.toml /tmp/ui-requirements.txt
COPY ui/ /app/ui/
ENV PYTHONPATH=/app \
    LODISC_SERVICE_URL=http://api:8000 \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false
USER 10001:10001
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]
CMD ["streamlit", "run", "ui/app.py", "--server.port", "8501", "--server.address", "0.0.0.0", "--server.headless", "true"]


FROM base AS api
COPY pyproject.toml README.md /app/
# CPU wheels of the torch/torchvision pair pinned in pyproject.toml (PyPI's default wheels bring
# gigabytes of CUDA libraries the CPU image never uses). The pins are read from pyproject.toml.
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(d for d in deps if d.startswith(('torch==', 'torchvision=='))))" > /tmp/torch-requirements.txt \
    && pip install --no-cache-dir -r /tmp/torch-requirements.txt \
        --index-url https://download.pytorch.org/whl/cpu \
    && rm /tmp/torch-requirements.txt
COPY lodisc/ /app/lodisc/
COPY training/ /app/training/
COPY indexer/ /app/indexer/
COPY service/ /app/service/
# API_EXTRAS="[scale]" adds pymilvus (LODISC_VECTOR_STORE=milvus://...) and the Ray indexer engine.
ARG API_EXTRAS=""
# hadolint ignore=DL3013  # the project itself, its dependencies pinned in pyproject.toml
RUN pip install --no-cache-dir ".${API_EXTRAS}" \
    && mkdir -p /models /index \
    && chown app:app /models /index
ENV LODISC_MODEL_PATH=/models/model.onnx \
    LODISC_INDEX_DIR=/index
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["uvicorn", "service.main:app", "--host", "0.0.0.0", "--port", "8000"]


# Optional: the service with a model and an index copied in (paths relative to the context).
FROM api AS api-baked
ARG MODEL_FILE=artifacts/model.onnx
ARG INDEX_DIR=artifacts/index
COPY --chown=app:app ${MODEL_FILE} /models/model.onnx
COPY --chown=app:app ${INDEX_DIR}/ /index/


# The default target (a plain `docker build .`) is the CPU service.
FROM api
