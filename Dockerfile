# syntax=docker/dockerfile:1
# The forescale operator image:   docker build -t forescale/operator:0.1.0 .
#
# At the repository root because the build needs pyproject.toml, requirements.lock and
# operator/ from there; .dockerignore keeps the rest (venv, caches, tests) out of the context.
# Base pinned by version; pin the digest too in your registry mirror (@sha256:...).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Runtime dependencies only, each at the version requirements.lock pins (the lock also
# holds the dev tools, which stay out of the image). A layer of its own: code changes
# do not reinstall them.
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > runtime.txt \
 && pip install --no-cache-dir --constraint requirements.lock --requirement runtime.txt
COPY README.md ./
COPY operator/ operator/
RUN pip install --no-cache-dir --no-deps . \
 && pip check \
 && forescale --help > /dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="forescale-operator" \
      org.opencontainers.image.description="Kubernetes operator that scales vLLM ahead of demand" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
COPY --from=build /opt/venv /opt/venv
# An unprivileged numeric user: Kubernetes can verify runAsNonRoot without a passwd entry.
USER 65532:65532
WORKDIR /tmp
EXPOSE 8080 9090
ENTRYPOINT ["forescale", "run"]
CMD ["--all-namespaces", "--liveness-endpoint=http://0.0.0.0:8080/healthz", "--metrics-host=0.0.0.0"]
