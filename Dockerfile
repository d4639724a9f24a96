# syntax=docker/dockerfile:1
# Production image: PostgreSQL comes from DATABASE_URL; migrations run before the server starts.

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schema schema
COPY resolvers resolvers
COPY authz authz
COPY db db
COPY pipecast pipecast
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 10001 pipecast
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER pipecast
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["sh", "-c", "pipecast migrate && exec pipecast serve --host 0.0.0.0 --port 8000 --workers ${WEB_CONCURRENCY:-2}"]
