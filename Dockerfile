FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
# WeasyPrint (audit reports) needs Pango.
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /srv/axisboard
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
RUN pip install -e . && useradd --create-home axisboard && chown -R axisboard /srv/axisboard
USER axisboard
EXPOSE 8000
CMD ["sh", "-c", "axisboard migrate && axisboard seed && axisboard serve --host 0.0.0.0 --port 8000 --workers ${WEB_CONCURRENCY:-2}"]
