# Image for every Segscope server process (web, worker, beat); docker-compose.yml wires them up.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY pyproject.toml README.md manage.py ./
COPY collectors ./collectors
COPY webapp ./webapp
COPY frontend ./frontend
COPY bin ./bin
# Editable, so that settings find frontend/ beside the packages.
RUN pip install -e . \
    && SECRET_KEY=collectstatic-only DEBUG=false python manage.py collectstatic --no-input

RUN useradd --system --home-dir /app segscope
USER segscope

EXPOSE 8000
# WEB_CONCURRENCY web processes share the port (uvicorn --workers); one per core.
ENV WEB_CONCURRENCY=2
CMD ["bin/web"]
